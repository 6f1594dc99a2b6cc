package vm

import (
	"strings"
	"testing"
)

const smapsSample = `55d0c0000000-55d0c0400000 r-xp 00000000 fe:00 123   /usr/bin/qemu-system-x86_64
Size:               4096 kB
Rss:                3000 kB
Pss:                3000 kB
7f0000000000-7f0010000000 rw-p 00000000 00:00 0 
Size:             262144 kB
Rss:              100000 kB
Pss:               99000 kB
7f0010000000-7f0050000000 rwxp 00000000 00:00 0 
Size:            1048576 kB
Rss:               50000 kB
Pss:               50000 kB
VmFlags: rd wr ex mr mw me ac
`

func TestParseGuestRAMPss(t *testing.T) {
	got, err := parseGuestRAMPss(strings.NewReader(smapsSample), 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got != 99000<<10 {
		t.Errorf("guest RAM PSS %d, want %d", got, 99000<<10)
	}
	if _, err := parseGuestRAMPss(strings.NewReader(smapsSample), 512<<20); err == nil {
		t.Error("found a 512 MiB mapping that is not there")
	}
}

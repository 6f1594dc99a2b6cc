package vm

import (
	"os"
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

func TestParseVMMMemorySplit(t *testing.T) {
	sample := smapsSample + `55d0c1000000-55d0c1200000 rw-p 00000000 00:00 0                          [heap]
Size:               2048 kB
Pss:                1500 kB
7f1000000000-7f1000100000 r--p 00000000 fe:00 99   /img/vmlinux
Size:               1024 kB
Pss:                 512 kB
`
	m, err := parseVMMMemory(strings.NewReader(sample), 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := VMMMemory{GuestRAM: 99000 << 10, TB: 50000 << 10, Heap: 1500 << 10, Files: (3000 + 512) << 10, ramFound: true}
	if m != want {
		t.Errorf("split %+v, want %+v", m, want)
	}
	if m.VMM() != (50000+1500+3512)<<10 {
		t.Errorf("VMM() = %d", m.VMM())
	}
	// A translation cache exactly guest-RAM long stays the translation cache.
	if m, err := parseVMMMemory(strings.NewReader(smapsSample), 1<<30); err == nil {
		t.Errorf("the 1 GiB rwx mapping taken as guest RAM: %+v", m)
	}
}

func FuzzParseVMMMemory(f *testing.F) {
	f.Add(smapsSample, uint64(256<<20))
	f.Add("7f00-7f10 rwxp 0 00:00 0\nPss: 4 kB\n", uint64(16))
	f.Fuzz(func(t *testing.T, text string, guest uint64) {
		m, err := parseVMMMemory(strings.NewReader(text), guest)
		if err == nil && !m.ramFound {
			t.Fatalf("no error without guest RAM: %+v", m)
		}
	})
}

// TestParseVMMMemoryRecorded reads the smaps of a real QEMU 7.2 TCG microvm
// (1 vCPU, 256 MiB, tb-size=32, the cloud kernel's vmlinux by PVH) after
// its agent was ready.
func TestParseVMMMemoryRecorded(t *testing.T) {
	f, err := os.Open("testdata/smaps-tcg-microvm-tb32.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := parseVMMMemory(f, 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	const mib = 1 << 20
	// The translation cache is one rwx mapping of tb-size; the kernel and
	// initramfs files QEMU keeps mapped are most of Files.
	if m.TB < 31*mib || m.TB > 32*mib {
		t.Errorf("TB %.1f MiB, want the 32 MiB cache", float64(m.TB)/mib)
	}
	if m.Files < 57*mib || m.Heap < 4*mib || m.Heap > 64*mib || m.GuestRAM < 16*mib {
		t.Errorf("split %+v", m)
	}
	t.Logf("guest RAM %.1f MiB, TB %.1f, heap %.1f, files %.1f", float64(m.GuestRAM)/mib, float64(m.TB)/mib, float64(m.Heap)/mib, float64(m.Files)/mib)
}

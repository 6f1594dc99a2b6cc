package vm

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// guestRAMPss returns the PSS in bytes of the QEMU process's guest RAM:
// the anonymous mappings exactly guestBytes long (QEMU maps each RAM block
// in one piece; on q35 a guest above 2-3 GiB is split by the PCI hole, so
// only guests that fit below it are recognised).
func guestRAMPss(pid int, guestBytes uint64) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseGuestRAMPss(f, guestBytes)
}

func parseGuestRAMPss(r io.Reader, guestBytes uint64) (uint64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	inRAM, found := false, false
	var pss uint64
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") && len(fields) >= 5 {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				// Anonymous: inode 0 and no path.
				inRAM = b-a == guestBytes && fields[4] == "0" && len(fields) == 5
				continue
			}
		}
		if inRAM && fields[0] == "Pss:" && len(fields) >= 2 {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("smaps: %q: %w", line, err)
			}
			pss += kb << 10
			found = true
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("smaps: no anonymous mapping of %d bytes (guest RAM)", guestBytes)
	}
	return pss, nil
}

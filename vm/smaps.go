package vm

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// VMMMemory is the QEMU process's proportional set size split by what
// maps it (/proc/PID/smaps), in bytes.
type VMMMemory struct {
	// GuestRAM: the anonymous mappings exactly guest-RAM long (QEMU maps
	// each RAM block in one piece; on q35 a guest above 2-3 GiB is split by
	// the PCI hole, so only guests that fit below it are recognised).
	GuestRAM uint64
	// TB: TCG's translation cache, the one anonymous executable mapping
	// (QEMU maps its code buffer read-write-execute; tb-size sets its
	// length). Zero under KVM.
	TB uint64
	// Heap: every other anonymous mapping: malloc arenas, [heap], thread
	// stacks, device state.
	Heap uint64
	// Files: file-backed mappings: QEMU's binary and libraries, its ROMs,
	// a PVH kernel it maps. Shared page cache, counted by share (PSS).
	Files uint64
	// ramFound: some mapping matched GuestRAM's length.
	ramFound bool
}

// VMM is the process's PSS without its guest RAM: TB + Heap + Files.
func (m VMMMemory) VMM() uint64 { return m.TB + m.Heap + m.Files }

// vmmMemory reads /proc/PID/smaps of a QEMU process.
func vmmMemory(pid int, guestBytes uint64) (VMMMemory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return VMMMemory{}, err
	}
	defer f.Close()
	return parseVMMMemory(f, guestBytes)
}

// guestRAMPss returns the PSS in bytes of the QEMU process's guest RAM.
func guestRAMPss(pid int, guestBytes uint64) (uint64, error) {
	m, err := vmmMemory(pid, guestBytes)
	return m.GuestRAM, err
}

// parseGuestRAMPss is parseVMMMemory's GuestRAM.
func parseGuestRAMPss(r io.Reader, guestBytes uint64) (uint64, error) {
	m, err := parseVMMMemory(r, guestBytes)
	return m.GuestRAM, err
}

type mappingKind int

const (
	mapHeap mappingKind = iota
	mapRAM
	mapTB
	mapFile
)

// parseVMMMemory splits a QEMU process's smaps (the kernel's text: a
// mapping's header line "start-end perms offset dev inode [path]" and its
// "Key: value kB" lines) into VMMMemory. It fails when no mapping is guest
// RAM's length: then the split would count guest RAM as VMM.
func parseVMMMemory(r io.Reader, guestBytes uint64) (VMMMemory, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var m VMMMemory
	kind := mapHeap
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if k, ok := mappingHeader(fields, guestBytes); ok {
			kind = k
			if k == mapRAM {
				m.ramFound = true
			}
			continue
		}
		if fields[0] != "Pss:" || len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil || kb > 1<<44 {
			return VMMMemory{}, fmt.Errorf("smaps: %q: bad Pss", line)
		}
		b := kb << 10
		switch kind {
		case mapRAM:
			m.GuestRAM += b
		case mapTB:
			m.TB += b
		case mapFile:
			m.Files += b
		default:
			m.Heap += b
		}
	}
	if err := sc.Err(); err != nil {
		return VMMMemory{}, fmt.Errorf("smaps: %w", err)
	}
	if !m.ramFound {
		return VMMMemory{}, fmt.Errorf("smaps: no anonymous mapping of %d bytes (guest RAM)", guestBytes)
	}
	return m, nil
}

// mappingHeader classifies a mapping's header line; ok is false for any
// other line.
func mappingHeader(fields []string, guestBytes uint64) (mappingKind, bool) {
	if len(fields) < 5 || strings.HasSuffix(fields[0], ":") {
		return 0, false
	}
	lo, hi, ok := strings.Cut(fields[0], "-")
	if !ok {
		return 0, false
	}
	a, err1 := strconv.ParseUint(lo, 16, 64)
	b, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || b < a {
		return 0, false
	}
	perms, inode := fields[1], fields[4]
	path := strings.Join(fields[5:], " ")
	switch {
	case path == "" && inode == "0" && b-a == guestBytes && !strings.Contains(perms, "x"):
		return mapRAM, true
	case strings.HasPrefix(path, "/"):
		return mapFile, true
	case path == "" && inode == "0" && strings.Contains(perms, "x"):
		return mapTB, true
	}
	return mapHeap, true
}

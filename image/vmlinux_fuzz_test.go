package image

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
)

// tinyELF is the smallest file debug/elf accepts: an x86-64 ELF header
// with no program or section headers.
func tinyELF() []byte {
	h := make([]byte, 64)
	copy(h, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1})
	binary.LittleEndian.PutUint16(h[16:], uint16(elf.ET_EXEC))
	binary.LittleEndian.PutUint16(h[18:], uint16(elf.EM_X86_64))
	binary.LittleEndian.PutUint32(h[20:], 1)
	binary.LittleEndian.PutUint16(h[52:], 64) // e_ehsize
	binary.LittleEndian.PutUint16(h[54:], 56) // e_phentsize
	binary.LittleEndian.PutUint16(h[58:], 64) // e_shentsize
	return h
}

// synthBzImage lays out a bzImage the way the kernel build does: four
// setup sectors after the boot sector, the setup header's payload offset
// and length, then the compressed payload followed by size (the
// uncompressed size the kernel build appends).
func synthBzImage(compressed []byte, size uint32) []byte {
	payload := binary.LittleEndian.AppendUint32(append([]byte(nil), compressed...), size)
	img := make([]byte, 5*512) // setup_sects = 0 means 4
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint32(img[0x248:], 16)
	binary.LittleEndian.PutUint32(img[0x24c:], uint32(len(payload)))
	img = append(img, make([]byte, 16)...)
	return append(img, payload...)
}

func gzipped(t testing.TB, b []byte) []byte {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// lz4Legacy compresses b in LZ4 legacy frames, as the kernel build does.
func lz4Legacy(t testing.TB, b []byte) []byte {
	var z bytes.Buffer
	zw := lz4.NewWriter(&z)
	if err := zw.Apply(lz4.LegacyOption(true)); err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// TestVmlinuxOfSynthetic extracts the tiny ELF from gzip and LZ4 payloads.
func TestVmlinuxOfSynthetic(t *testing.T) {
	want := tinyELF()
	for name, comp := range map[string][]byte{"gzip": gzipped(t, want), "lz4": lz4Legacy(t, want)} {
		got, err := vmlinuxOf(synthBzImage(comp, uint32(len(want))))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: got %d bytes, want the %d-byte ELF", name, len(got), len(want))
		}
		if _, err := vmlinuxOf(synthBzImage(comp, 0xfffffff0)); err == nil || !strings.Contains(err.Error(), "trailer says 4294967280 bytes") {
			t.Errorf("%s with a 4 GiB trailer: error %v, want the trailer refused", name, err)
		}
	}
}

// maxFuzzAlloc bounds what one vmlinuxOf call may allocate: the
// decompressors' own state (LZ4 legacy blocks are 8 MiB) plus what the
// payload can decompress to.
func maxFuzzAlloc(input int) uint64 {
	return 32<<20 + 2*maxCompressionRatio*uint64(input)
}

// FuzzVmlinux feeds vmlinuxOf arbitrary files. An extracted kernel must be
// an ELF of exactly the size the payload's trailer gives, no larger than
// the payload can decompress to; and no input, however its header lies
// about sizes, may make the extractor allocate more than its size implies.
func FuzzVmlinux(f *testing.F) {
	elfBytes := tinyELF()
	f.Add(synthBzImage(gzipped(f, elfBytes), uint32(len(elfBytes))))
	f.Add(synthBzImage(lz4Legacy(f, elfBytes), uint32(len(elfBytes))))
	f.Add(synthBzImage(lz4Legacy(f, bytes.Repeat(elfBytes, 50)), 50*uint32(len(elfBytes))))
	f.Add(synthBzImage([]byte("BZh9"), 10))
	f.Add([]byte("not a kernel"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out, err := vmlinuxOf(b)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxFuzzAlloc(len(b)) {
			t.Fatalf("allocated %d bytes for a %d-byte input (bound %d)", alloc, len(b), maxFuzzAlloc(len(b)))
		}
		if err != nil {
			if out != nil {
				t.Errorf("returned %d bytes with error %v", len(out), err)
			}
			return
		}
		if uint64(len(out)) > maxCompressionRatio*uint64(len(b)) {
			t.Errorf("extracted %d bytes from a %d-byte input", len(out), len(b))
		}
		n := binary.LittleEndian.Uint32(b[0x24c:])
		setupSects := int(b[0x1f1])
		if setupSects == 0 {
			setupSects = 4
		}
		off := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(b[0x248:]))
		if want := binary.LittleEndian.Uint32(b[off+int(n)-4:]); uint32(len(out)) != want {
			t.Errorf("extracted %d bytes, trailer says %d", len(out), want)
		}
		if _, err := elf.NewFile(bytes.NewReader(out)); err != nil {
			t.Errorf("extracted a non-ELF: %v", err)
		}
	})
}

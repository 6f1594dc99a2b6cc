package vm

import (
	"os"
	"path/filepath"
	"testing"

	"vcbench/internal/testenv"
)

func TestCreateDisk(t *testing.T) {
	for _, tc := range []struct {
		name, dir string
	}{
		{"temp dir", t.TempDir()},
		// tmpfs: O_DIRECT only since Linux 6.6; older kernels take the fallback.
		{"tmpfs", "/dev/shm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.dir); err != nil {
				testenv.Require(t, "%v", err)
			}
			path := filepath.Join(tc.dir, "vcbench-test-disk-"+randomSuffix()+".raw")
			defer os.Remove(path)
			d, err := createDisk(path, 64)
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil || st.Size() != 64<<20 {
				t.Fatalf("disk %v size %d", err, st.Size())
			}
			t.Logf("%s: cache=%s aio=%s", tc.dir, d.Cache, d.AIO)
			if (d.Cache == "none") != (d.AIO == "native") {
				t.Errorf("aio=native needs cache=none (O_DIRECT): %+v", d)
			}
			if _, err := createDisk(path, 64); err == nil {
				t.Error("createDisk overwrote an existing file")
			}
		})
	}
}

package vm

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBlockIOError reads BLOCK_IO_ERROR events as QEMU 7.2 sends them for
// the scratch disk (if=none: no device name; werror=report: no "nospace").
func TestBlockIOError(t *testing.T) {
	for _, c := range []struct {
		event string
		want  []string
	}{
		{`{"device":"","node-name":"#block164","operation":"write","action":"report","reason":"No space left on device"}`,
			[]string{"scratch disk /s/d.raw: no space left on device on the host", "write failed"}},
		{`{"device":"","node-name":"#block164","operation":"write","action":"stop","nospace":true,"reason":"No space left on device"}`,
			[]string{"no space left on device on the host"}},
		{`{"device":"","node-name":"#block164","operation":"read","action":"report","nospace":false,"reason":"Input/output error"}`,
			[]string{"scratch disk /s/d.raw: host I/O error on read: Input/output error"}},
	} {
		var data map[string]any
		if err := json.Unmarshal([]byte(c.event), &data); err != nil {
			t.Fatal(err)
		}
		got := blockIOErrorFrom(data).describe("/s/d.raw")
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q, want %q in it", c.event, got, w)
			}
		}
		if !strings.Contains(c.event, "No space") && strings.Contains(got, "no space") {
			t.Errorf("%s: %q", c.event, got)
		}
	}
	var c *qmpClient
	if c.diskError() != nil {
		t.Error("nil client has a disk error")
	}
}

package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"vcbench/agent/proto"
	"vcbench/bench"
)

// gfmCells counts the cells of one Markdown table row the way GitHub's
// parser (cmark-gfm) splits it: a backslash escapes the next character, an
// unescaped pipe ends a cell, and the leading and trailing pipes frame the
// row. ok is false when the row is not framed by pipes.
func gfmCells(row string) (n int, ok bool) {
	if !strings.HasPrefix(row, "|") {
		return 0, false
	}
	pipes, last := 0, -1
	for i := 0; i < len(row); i++ {
		switch row[i] {
		case '\\':
			i++
		case '|':
			pipes++
			last = i
		}
	}
	if last != len(row)-1 {
		return 0, false
	}
	return pipes - 1, true
}

// FuzzDecodeView feeds decodeView arbitrary raw/info-*.json files, seeded
// with the recorded ones, and renders the view as the report does. The
// view is what json.Unmarshal gives (or marked unreadable), its runtime
// is the instance name up to the instance number, and its Markdown table
// has every row on one line with one cell per column.
func FuzzDecodeView(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "run-*", "raw", "info-*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed info files under testdata (%v)", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(filepath.Base(file), b)
	}
	f.Add("info-vm-x.json", []byte(`{"hostname":"a|b\\","interfaces":[{"name":"eth0\n","addrs":["x|y"]}],"uptime_seconds":1e308}`))
	f.Add("info--1.json", []byte(`{"mem_total_bytes":-1}`))
	f.Fuzz(func(t *testing.T, file string, b []byte) {
		v := decodeView("", file, b)
		var want proto.Info
		if err := json.Unmarshal(b, &want); err == nil {
			if !reflect.DeepEqual(v.Info, want) {
				t.Errorf("view info %+v, want %+v", v.Info, want)
			}
		} else if !strings.HasPrefix(v.Info.Hostname, "(unreadable: ") {
			t.Errorf("undecodable info shown with hostname %q", v.Info.Hostname)
		}
		if !strings.HasPrefix(v.Instance, v.Runtime) {
			t.Errorf("runtime %q is not a prefix of instance %q", v.Runtime, v.Instance)
		}
		m := &Model{Lang: "en", Views: []InstanceView{v}, Runs: []RunEnv{{Info: bench.RunInfo{Host: bench.Host{Kernel: "6.1.0"}}}}}
		tb := m.viewTable()
		if len(tb.Rows) != 1 || len(tb.Rows[0]) != len(tb.Head) {
			t.Fatalf("view table %d rows, want one of %d cells: %q", len(tb.Rows), len(tb.Head), tb.Rows)
		}
		var md bytes.Buffer
		writeMDTable(&md, tb)
		lines := strings.Split(strings.TrimSuffix(md.String(), "\n\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("markdown table has %d lines, want 3:\n%s", len(lines), md.String())
		}
		for _, l := range lines {
			if strings.ContainsRune(l, '\r') {
				t.Errorf("markdown row holds a carriage return (a line break to Markdown): %q", l)
			}
			if n, ok := gfmCells(l); !ok || n != len(tb.Head) {
				t.Errorf("markdown row %q has %d cells (framed %v), want %d", l, n, ok, len(tb.Head))
			}
		}
	})
}

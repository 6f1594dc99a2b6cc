package tools

import (
	"bytes"
	"io"
	"os"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func indexByte(b []byte, c byte) int { return bytes.IndexByte(b, c) }

// removeAll removes a scratch file or directory a tool left; a missing one is fine.
func removeAll(path string) { os.RemoveAll(path) }

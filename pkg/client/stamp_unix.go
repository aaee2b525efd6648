//go:build unix

package client

import (
	"os"
	"syscall"
)

func stampOf(fi os.FileInfo) fileStamp {
	st := fileStamp{size: fi.Size(), modTime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		// The conversions: the field types differ by platform.
		st.dev, st.ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	return st
}

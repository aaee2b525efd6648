//go:build !unix

package client

import "os"

// stampOf without an inode: size and modification time alone.
func stampOf(fi os.FileInfo) fileStamp {
	return fileStamp{size: fi.Size(), modTime: fi.ModTime()}
}

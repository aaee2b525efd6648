package main

import (
	"archive/tar"
	"bytes"
	"encoding/pem"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The image's user: not root, and the UID the Deployment's securityContext
// names (65532, "nonroot", as in distroless images).
const (
	nonrootUID = 65532
	binaryPath = "usr/local/bin/tokenfed"
	caBundle   = "etc/ssl/certs/ca-certificates.crt"
)

// file is one entry of the root filesystem.
type file struct {
	name     string
	mode     int64
	uid, gid int
	dir      bool
	body     []byte
}

// rootfs lists the image's files in the order they are archived, parents
// first. Nothing in it is writable by the image's user but its home, and
// the Deployment mounts the root read-only anyway: serving writes no
// files (logs go to stderr).
func rootfs(binary []byte) ([]file, error) {
	roots, err := caBundlePEM()
	if err != nil {
		return nil, err
	}
	dir := func(name string) file { return file{name: name, mode: 0o755, dir: true} }
	return []file{
		dir("etc/"),
		{name: "etc/group", mode: 0o644, body: []byte("root:x:0:\nnonroot:x:65532:\n")},
		// Go's resolver reads it to order /etc/hosts before DNS.
		{name: "etc/nsswitch.conf", mode: 0o644, body: []byte("hosts: files dns\n")},
		{name: "etc/passwd", mode: 0o644, body: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		dir("etc/ssl/"),
		dir("etc/ssl/certs/"),
		{name: caBundle, mode: 0o644, body: roots},
		dir("home/"),
		{name: "home/nonroot/", mode: 0o700, uid: nonrootUID, gid: nonrootUID, dir: true},
		dir("usr/"),
		dir("usr/local/"),
		dir("usr/local/bin/"),
		// Owned by root: the user it runs as cannot replace it.
		{name: binaryPath, mode: 0o755, body: binary},
	}, nil
}

// layerTar archives files with every time set to mtime, so the archive
// depends on its contents alone.
func layerTar(files []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: mtime, Typeflag: tar.TypeReg, Size: int64(len(f.body))}
		if f.dir {
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("archiving %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, fmt.Errorf("archiving %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// caBundlePEM is Mozilla's NSS root store as packaged in the Go module
// golang.org/x/crypto/x509roots/fallback, pinned in go.mod: the same bundle
// on every build machine (a build host's /etc/ssl would make the image
// depend on where it was built), updated like any dependency.
//
// Roots NSS trusts only for certificates issued before a distrust-after
// date are left out: a PEM file cannot carry that date, so including them
// would trust what Mozilla stopped trusting.
func caBundlePEM() ([]byte, error) {
	var out bytes.Buffer
	fmt.Fprintf(&out, "# Mozilla NSS roots from golang.org/x/crypto/x509roots/fallback %s,\n# without the roots constrained by a distrust-after date.\n", fallbackVersion())
	n := 0
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		if err := pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("the x509roots/fallback bundle has no unconstrained roots")
	}
	return out.Bytes(), nil
}

func fallbackVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == "golang.org/x/crypto/x509roots/fallback" {
				return m.Version
			}
		}
	}
	return "(version unknown)"
}

func readBinary(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the tokenfed binary: %w", err)
	}
	return b, nil
}

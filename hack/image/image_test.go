package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// testOptions builds from small stand-in binaries: what is checked here is
// the assembly, not tokenfed (test/image checks the real image).
func testOptions(t *testing.T, created time.Time) options {
	t.Helper()
	dir := t.TempDir()
	var bins []platformBinary
	for _, arch := range []string{"amd64", "arm64"} {
		p := filepath.Join(dir, arch)
		if err := os.WriteFile(p, []byte("not really tokenfed for "+arch), 0o755); err != nil {
			t.Fatal(err)
		}
		bins = append(bins, platformBinary{OS: "linux", Arch: arch, Path: p})
	}
	return options{Version: "v0.0.0-test", Revision: "0123456789abcdef", Created: created,
		Source: "https://example.com/tokenfed", Repository: "example.com/tokenfed", Binaries: bins}
}

// TestReproducible: the same inputs give the same digest and the same
// layout bytes, whenever and wherever they are built; another commit time
// gives another digest.
func TestReproducible(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	first, firstIndex := buildTo(t, testOptions(t, created))
	second, secondIndex := buildTo(t, testOptions(t, created))
	if first != second || !bytes.Equal(firstIndex, secondIndex) {
		t.Errorf("two builds of the same inputs: index %s and %s, index.json equal: %v", first, second, bytes.Equal(firstIndex, secondIndex))
	}
	if later, _ := buildTo(t, testOptions(t, created.Add(time.Second))); later == first {
		t.Errorf("a build with another creation time has the same digest %s", later)
	}
}

func buildTo(t *testing.T, o options) (string, []byte) {
	t.Helper()
	out := &outputs{Layout: filepath.Join(t.TempDir(), "image"), ArchiveDir: t.TempDir()}
	digest, err := build(o, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Archives) != len(o.Binaries) {
		t.Errorf("wrote archives %v, want one per platform", out.Archives)
	}
	index, err := os.ReadFile(filepath.Join(out.Layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	return digest.String(), index
}

// TestLayerFiles checks owners, modes and times in the layer: root owns
// everything but the user's home, and every time is the commit's.
func TestLayerFiles(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	files, err := rootfs([]byte("binary"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := layerTar(files, created)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	seen := map[string]*tar.Header{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[hdr.Name] = hdr
		if !hdr.ModTime.Equal(created) {
			t.Errorf("%s has time %s, want the commit's %s", hdr.Name, hdr.ModTime, created)
		}
		wantUID := 0
		if hdr.Name == "home/nonroot/" {
			wantUID = nonrootUID
		}
		if hdr.Uid != wantUID || hdr.Gid != wantUID {
			t.Errorf("%s is owned by %d:%d, want %d:%d", hdr.Name, hdr.Uid, hdr.Gid, wantUID, wantUID)
		}
	}
	if h := seen[binaryPath]; h == nil || h.Mode != 0o755 {
		t.Errorf("%s: got %+v, want mode 0755", binaryPath, h)
	}
}

// TestCABundle: every root NSS trusts without a distrust-after date, and
// none of those it does not.
func TestCABundle(t *testing.T) {
	data, err := caBundlePEM()
	if err != nil {
		t.Fatal(err)
	}
	var want, constrained int
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			constrained++
		} else {
			want++
		}
	}
	got := 0
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			t.Fatalf("certificate %d: %v", got, err)
		}
		got++
	}
	if got != want || got < 100 {
		t.Errorf("the bundle has %d certificates, want the %d unconstrained NSS roots (%d constrained left out)", got, want, constrained)
	}
	t.Logf("%d roots, %d constrained ones left out", got, constrained)
}

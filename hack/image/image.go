package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// options describe the image; they are all its inputs.
type options struct {
	Version, Revision string
	Created           time.Time
	Source            string
	Repository        string
	Binaries          []platformBinary
}

// platformBinary is a tokenfed binary built for one platform.
type platformBinary struct {
	OS, Arch, Path string
}

func (p platformBinary) platform() v1.Platform {
	plat := v1.Platform{OS: p.OS, Architecture: p.Arch}
	if p.Arch == "arm64" {
		plat.Variant = "v8" // what registries and runtimes expect for arm64
	}
	return plat
}

// annotations are the OCI ones, on the index and each manifest, and as
// labels in each config (which `docker inspect` shows). There is no
// org.opencontainers.image.licenses: the repository has no license file.
func (o options) annotations() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "tokenfed",
		"org.opencontainers.image.description": "TokenReview webhook server that federates Kubernetes authentication",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.revision":    o.Revision,
		"org.opencontainers.image.source":      o.Source,
		"org.opencontainers.image.created":     o.Created.Format(time.RFC3339),
	}
}

// build writes the layout and the archives and returns the index digest.
func build(o options, out *outputs) (v1.Hash, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range o.Binaries {
		fmt.Printf("image: assembling %s/%s from %s\n", b.OS, b.Arch, b.Path)
		img, err := platformImage(o, b)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("%s/%s: %w", b.OS, b.Arch, err)
		}
		plat := b.platform()
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &plat}})
		if err := writeArchive(o, b, img, out); err != nil {
			return v1.Hash{}, err
		}
	}
	idx = mutate.Annotations(idx, o.annotations()).(v1.ImageIndex)
	if err := writeLayout(out.Layout, idx, o.Version); err != nil {
		return v1.Hash{}, err
	}
	return idx.Digest()
}

// platformImage is the single-layer image of one platform.
func platformImage(o options, b platformBinary) (v1.Image, error) {
	bin, err := readBinary(b.Path)
	if err != nil {
		return nil, err
	}
	files, err := rootfs(bin)
	if err != nil {
		return nil, err
	}
	tarBytes, err := layerTar(files, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	base, err = mutate.ConfigFile(base, configFile(o, b.platform()))
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created:   v1.Time{Time: o.Created},
		CreatedBy: "make image (hack/image)",
		Comment:   "tokenfed " + o.Version + ", CA bundle, nonroot user",
	}})
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, o.annotations()).(v1.Image), nil
}

// configFile runs tokenfed as 65532:65532. The entrypoint is an absolute
// path, and /usr/local/bin is on PATH too, so the Deployment's
// `command: ["tokenfed"]` finds the same binary. There is no default
// command: without arguments tokenfed prints its help.
func configFile(o options, plat v1.Platform) *v1.ConfigFile {
	return &v1.ConfigFile{
		Architecture: plat.Architecture,
		OS:           plat.OS,
		Variant:      plat.Variant,
		Created:      v1.Time{Time: o.Created},
		Config: v1.Config{
			User:         fmt.Sprintf("%d:%d", nonrootUID, nonrootUID),
			Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
			Entrypoint:   []string{"/" + binaryPath},
			WorkingDir:   "/",
			ExposedPorts: map[string]struct{}{"8443/tcp": {}},
			Labels:       o.annotations(),
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
}

// writeLayout replaces dir with a layout whose one entry is idx, named
// version: `skopeo copy --all oci:DIR:VERSION ...` finds it by that name.
// It is written beside dir and renamed over it, so a failed build leaves
// the previous layout whole.
func writeLayout(dir string, idx v1.ImageIndex, version string) error {
	fmt.Printf("image: writing the OCI layout %s\n", dir)
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": version})); err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := readableByAll(tmp); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// readableByAll makes the layout's files 0644 and directories 0755:
// go-containerregistry writes blobs 0600 and index.json 0755, and a push
// run as another user (skopeo in a container, a CI step) must read them.
func readableByAll(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(path, mode)
	})
}

// writeArchive writes img as a docker-archive tagged REPOSITORY:VERSION,
// for `docker load` and `kind load image-archive`, which take one
// platform at a time.
func writeArchive(o options, b platformBinary, img v1.Image, out *outputs) error {
	if out.ArchiveDir == "" {
		return nil
	}
	tag, err := name.NewTag(o.Repository + ":" + o.Version)
	if err != nil {
		return fmt.Errorf("image name: %w", err)
	}
	path := filepath.Join(out.ArchiveDir, fmt.Sprintf("image-%s-%s.tar", b.OS, b.Arch))
	fmt.Printf("image: writing the docker archive %s\n", path)
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	out.Archives = append(out.Archives, path)
	return nil
}

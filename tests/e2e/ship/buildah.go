package ship

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"crd-state-metrics/tests/e2e/cluster"
)

// Buildah runs buildah with the storage scripts/image-test builds into (vfs
// driver; $CSM_BUILDAH_ROOT and $CSM_BUILDAH_RUNROOT, by default under
// .cache/image).
type Buildah struct{ Root, RunRoot string }

// NewBuildah returns the buildah of scripts/image-test.
func NewBuildah() *Buildah {
	b := &Buildah{Root: os.Getenv("CSM_BUILDAH_ROOT"), RunRoot: os.Getenv("CSM_BUILDAH_RUNROOT")}
	if b.Root == "" {
		b.Root = filepath.Join(cluster.RepoRoot(), ".cache", "image", "storage")
	}
	if b.RunRoot == "" {
		b.RunRoot = filepath.Join(cluster.RepoRoot(), ".cache", "image", "run")
	}
	return b
}

// Command returns an exec.Cmd for buildah args.
func (b *Buildah) Command(args ...string) *exec.Cmd {
	return exec.Command("buildah", append([]string{"--root", b.Root, "--runroot", b.RunRoot, "--storage-driver", "vfs"}, args...)...)
}

// Output runs buildah args and returns stdout; it fails the test on error.
func (b *Buildah) Output(t testing.TB, args ...string) string {
	t.Helper()
	cmd := b.Command(args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("buildah %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// From creates a working container from image and removes it on cleanup.
func (b *Buildah) From(t testing.TB, image string) string {
	t.Helper()
	ctr := b.Output(t, "from", "--pull=false", image)
	t.Cleanup(func() { _ = b.Command("rm", ctr).Run() })
	return ctr
}

// Mount mounts the container's root filesystem and returns its path; it is
// unmounted on cleanup.
func (b *Buildah) Mount(t testing.TB, ctr string) string {
	t.Helper()
	mnt := b.Output(t, "mount", ctr)
	t.Cleanup(func() { _ = b.Command("umount", ctr).Run() })
	return mnt
}

// FileState is a regular file's size, mode and modification time.
type FileState struct {
	Size  int64
	Mode  fs.FileMode
	MTime int64
}

// Snapshot maps every regular file under root (relative path) to its state.
func Snapshot(t testing.TB, root string) map[string]FileState {
	t.Helper()
	out := map[string]FileState{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out["/"+rel] = FileState{Size: info.Size(), Mode: info.Mode(), MTime: info.ModTime().UnixNano()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

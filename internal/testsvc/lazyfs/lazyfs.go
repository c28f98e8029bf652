// Package lazyfs is a FUSE filesystem for power-cut tests, after Jepsen's
// LazyFS: it passes every operation through to a backing directory but
// remembers how to undo each change that has not been made durable, so a
// power cut (Cut) can put the backing directory back to what a disk would
// hold after losing power. A file's changes become durable when it is
// fsynced or written through a descriptor opened with O_SYNC or O_DSYNC
// (under direct I/O no FSYNC reaches FUSE for those). Files created or
// renamed over since the last sync are removed or restored on a cut.
package lazyfs

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// FS is a mounted lazy filesystem.
type FS struct {
	// Dir is the mount point processes write to.
	Dir     string
	backing string
	shadow  string
	server  *fuse.Server

	mu      sync.Mutex
	pending map[string]*undo // by backing path
	backups int
}

// undo restores one backing file to its last durable state.
type undo struct {
	created bool    // the file did not exist at the last sync
	backup  string  // a full copy of the durable content, when set
	size    int64   // the durable size, when backup is empty
	patches []patch // durable bytes overwritten since, oldest first
}

type patch struct {
	off  int64
	data []byte
}

// Mount mounts a lazy filesystem over backing at dir; shadow holds copies of
// durable content that renames would otherwise destroy.
func Mount(dir, backing, shadow string) (*FS, error) {
	l := &FS{Dir: dir, backing: backing, shadow: shadow, pending: map[string]*undo{}}
	root := &fs.LoopbackRoot{Path: backing}
	root.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: r}, fs: l}
	}
	rootNode := root.NewNode(root, nil, "", nil)
	root.RootNode = rootNode
	server, err := fs.Mount(dir, rootNode, &fs.Options{MountOptions: fuse.MountOptions{DirectMount: true, FsName: "lazyfs"}})
	if err != nil {
		return nil, fmt.Errorf("lazyfs: mount %s over %s: %w", dir, backing, err)
	}
	l.server = server
	return l, nil
}

// Cut is the power cut after the processes using the mount were killed:
// it unmounts and discards every change not made durable.
func (l *FS) Cut() error {
	if err := l.server.Unmount(); err != nil {
		return fmt.Errorf("lazyfs: unmount %s: %w", l.Dir, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for path, u := range l.pending {
		if err := u.restore(path); err != nil {
			return fmt.Errorf("lazyfs: restore %s: %w", path, err)
		}
	}
	l.pending = map[string]*undo{}
	return nil
}

// Unmount unmounts without discarding anything.
func (l *FS) Unmount() error { return l.server.Unmount() }

func (u *undo) restore(path string) error {
	switch {
	case u.backup != "":
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.Rename(u.backup, path)
	case u.created:
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	return applyTo(path, u.size, u.patches)
}

// applyTo truncates path to size and writes the patches back newest first,
// so the oldest copy of a range, the durable one, is written last.
func applyTo(path string, size int64, patches []patch) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	for i := len(patches) - 1; i >= 0; i-- {
		if _, err := f.WriteAt(patches[i].data, patches[i].off); err != nil {
			return err
		}
	}
	return nil
}

// entry returns path's undo, starting one from the file's current state when
// it was durable until now. Call with mu held.
func (l *FS) entry(path string) *undo {
	if u, ok := l.pending[path]; ok {
		return u
	}
	u := &undo{}
	st, err := os.Stat(path)
	if err != nil {
		u.created = true
	} else {
		u.size = st.Size()
	}
	l.pending[path] = u
	return u
}

// overwriting saves the durable bytes of [off, off+n) before a write or a
// truncation changes them.
func (l *FS) overwriting(path string, off, n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.entry(path)
	if u.created || u.backup != "" || off >= u.size {
		return // nothing durable to save: the whole durable state is known
	}
	end := min(off+n, u.size)
	buf := make([]byte, end-off)
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	k, _ := f.ReadAt(buf, off)
	u.patches = append(u.patches, patch{off: off, data: buf[:k]})
}

// synced makes path's changes durable.
func (l *FS) synced(path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u, ok := l.pending[path]; ok && u.backup != "" {
		os.Remove(u.backup)
	}
	delete(l.pending, path)
}

// renamed records a rename from old to new: each path's durable content is
// kept as a copy so a cut can put it back.
func (l *FS) renamed(oldPath, newPath string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	newU, err := l.durableCopy(newPath)
	if err != nil {
		return err
	}
	oldU, err := l.durableCopy(oldPath)
	if err != nil {
		return err
	}
	l.pending[newPath], l.pending[oldPath] = newU, oldU
	return nil
}

// durableCopy returns an undo for path holding a full copy of its durable
// content (or marking it created). Call with mu held.
func (l *FS) durableCopy(path string) (*undo, error) {
	u := l.entry(path)
	if u.created || u.backup != "" {
		return u, nil
	}
	l.backups++
	backup := filepath.Join(l.shadow, fmt.Sprintf("b%d", l.backups))
	if err := copyFile(path, backup); err != nil {
		return nil, err
	}
	if err := applyTo(backup, u.size, u.patches); err != nil {
		return nil, err
	}
	return &undo{backup: backup}, nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// node is a loopback node whose changes are recorded.
type node struct {
	fs.LoopbackNode
	fs *FS
}

func (n *node) backingPath(name string) string {
	return filepath.Join(n.RootData.Path, n.Path(n.RootData.RootNode.EmbeddedInode()), name)
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fuseFlags, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return n.wrap(fh, n.backingPath(""), flags), fuseFlags, 0
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	path := n.backingPath(name)
	n.fs.mu.Lock()
	n.fs.entry(path)
	n.fs.mu.Unlock()
	inode, fh, fuseFlags, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return inode, n.wrap(fh, path, flags), fuseFlags, 0
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	if err := n.fs.renamed(n.backingPath(name), np.backingPath(newName)); err != nil {
		return syscall.EIO
	}
	return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		n.fs.overwriting(n.backingPath(""), int64(size), 1<<62)
	}
	if lf, ok := f.(*file); ok {
		f = lf.LoopbackFile
	}
	return n.LoopbackNode.Setattr(ctx, f, in, out)
}

func (n *node) wrap(fh fs.FileHandle, path string, flags uint32) fs.FileHandle {
	return &file{LoopbackFile: fh.(*fs.LoopbackFile), fs: n.fs, path: path, sync: flags&syscall.O_DSYNC != 0}
}

// file is a loopback file handle whose writes are recorded.
type file struct {
	*fs.LoopbackFile
	fs   *FS
	path string
	sync bool // opened with O_SYNC or O_DSYNC: every write is durable
}

// PassthroughFd refuses kernel passthrough, which would bypass the record.
func (f *file) PassthroughFd() (int, bool) { return 0, false }

func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	f.before(off, int64(len(data)))
	n, errno := f.LoopbackFile.Write(ctx, data, off)
	f.after()
	return n, errno
}

func (f *file) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	var total int64
	for _, d := range data {
		total += int64(len(d))
	}
	f.before(off, total)
	n, errno := f.LoopbackFile.Writev(ctx, data, off)
	f.after()
	return n, errno
}

func (f *file) before(off, n int64) {
	if !f.sync {
		f.fs.overwriting(f.path, off, n)
	}
}

func (f *file) after() {
	if f.sync {
		f.fs.synced(f.path)
	}
}

func (f *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	errno := f.LoopbackFile.Fsync(ctx, flags)
	if errno == 0 {
		f.fs.synced(f.path)
	}
	return errno
}

func (f *file) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok && !f.sync {
		f.fs.overwriting(f.path, int64(size), 1<<62)
	}
	return f.LoopbackFile.Setattr(ctx, in, out)
}

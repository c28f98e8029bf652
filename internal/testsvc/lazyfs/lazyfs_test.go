package lazyfs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCutKeepsOnlySyncedData writes a synced file, an unsynced append, an
// unsynced new file and an unsynced rename over a synced file, cuts power
// and requires exactly the synced state back.
func TestCutKeepsOnlySyncedData(t *testing.T) {
	backing, mnt, shadow := t.TempDir(), t.TempDir(), t.TempDir()
	l, err := Mount(mnt, backing, shadow)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, data string, sync bool, flag int) {
		f, err := os.OpenFile(filepath.Join(mnt, name), os.O_WRONLY|os.O_CREATE|flag, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(data); err != nil {
			t.Fatal(err)
		}
		if sync {
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
	}
	write("log", "durable", true, 0)
	write("log", "+lost", false, os.O_APPEND)
	write("meta", "old", true, 0)
	write("osync", "direct", false, os.O_SYNC)
	write("new", "lost", false, 0)
	write("meta.tmp", "new", false, 0)
	if err := os.Rename(filepath.Join(mnt, "meta.tmp"), filepath.Join(mnt, "meta")); err != nil {
		t.Fatal(err)
	}
	if err := l.Cut(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"log": "durable", "meta": "old", "osync": "direct"} {
		got, err := os.ReadFile(filepath.Join(backing, name))
		if err != nil || string(got) != want {
			t.Errorf("%s after the cut = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"new", "meta.tmp"} {
		if _, err := os.Stat(filepath.Join(backing, name)); !os.IsNotExist(err) {
			t.Errorf("%s survived the cut (%v)", name, err)
		}
	}
}

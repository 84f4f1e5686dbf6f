// Package atomicfile replaces files so that a crash leaves either the old
// content or the new, never a mix, and the new content is on disk before
// the call returns: written to a temporary file in the same directory,
// synced, renamed over the target, and the directory synced so that the
// rename itself survives a power loss. Every file headsup keeps state in
// (checkpoints, witness state, directories, exports) is written this way.
package atomicfile

import (
	"bufio"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces path with data. The file gets mode perm, or keeps the
// mode of the file it replaces when keepMode is set and one exists.
func Write(path string, data []byte, perm fs.FileMode) error {
	return WriteFunc(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// KeepMode returns the permission bits of the file at path, or def when
// there is none: a file replaced by an edit keeps the mode its owner gave
// it.
func KeepMode(path string, def fs.FileMode) fs.FileMode {
	if fi, err := os.Stat(path); err == nil {
		return fi.Mode().Perm()
	}
	return def
}

// WriteFunc replaces path with what write produces, buffered. Nothing
// replaces path when write fails.
func WriteFunc(path string, perm fs.FileMode, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 64<<10)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir syncs a directory, so that the names created, renamed or removed
// in it are on disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

package mailio

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the file system holding dir (one syncfs(2) for all the
// files written, instead of an fsync each).
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

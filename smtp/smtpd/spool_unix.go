//go:build unix

package smtpd

import (
	"fmt"
	"os"
	"syscall"
)

// spool is a large message's file: written as DATA arrives, then mapped
// into memory for the checks and the commit. Its pages are the kernel's
// page cache, not the Go heap: they count for this process only while
// mapped and touched, and leave at Release (munmap), never waiting for
// a garbage collection.
type spool struct {
	f *os.File
}

// newSpool makes an anonymous file in dir (unlinked at once: a crash
// leaves nothing behind).
func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "spool-*")
	if err != nil {
		return nil, fmt.Errorf("making a spool file: %w", err)
	}
	os.Remove(f.Name())
	return &spool{f: f}, nil
}

func (s *spool) Write(p []byte) (int, error) { return s.f.Write(p) }

// mapFile maps the file's n bytes, writable (the headroom is filled in
// place), shared with the file.
func (s *spool) mapFile(n int) ([]byte, error) {
	b, err := syscall.Mmap(int(s.f.Fd()), 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping the spool file: %w", err)
	}
	return b, nil
}

func (s *spool) close(mapped []byte) {
	if mapped != nil {
		syscall.Munmap(mapped)
	}
	s.f.Close()
}

const canSpool = true

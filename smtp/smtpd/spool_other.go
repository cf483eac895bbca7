//go:build !unix

package smtpd

import "errors"

// Without mmap, messages stay in memory.
type spool struct{}

func newSpool(string) (*spool, error)        { return nil, errors.New("no spool on this system") }
func (s *spool) Write(p []byte) (int, error) { return 0, errors.New("no spool") }
func (s *spool) mapFile(int) ([]byte, error) { return nil, errors.New("no spool") }
func (s *spool) close([]byte)                {}

const canSpool = false

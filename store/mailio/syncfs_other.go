//go:build !linux

package mailio

import "syscall"

// syncFS flushes everything written (sync(2): no syncfs here).
func syncFS(dir string) error {
	syscall.Sync()
	return nil
}

package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// Import and export with a running server go through a staging directory
// inside the data directory: the server may not be able to read or write
// the user's PATH at all (systemd's ProtectHome and private /tmp, another
// user, a container). The command copies the mail in (owned like the data
// directory), the server imports it from there, and the copy is removed;
// export runs the other way. Without a server, the file is opened here.

// serverRunning reports whether a server answers on the control socket.
func serverRunning(data string) bool {
	c, err := net.DialTimeout("unix", SocketPath(data), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// runDirect runs a command's body on the database opened here.
func runDirect(e *Env, fn func(*Env) error) error {
	if _, err := os.Stat(filepath.Join(e.Cfg.Data, store.DBFile)); err != nil {
		return fmt.Errorf("no database in %s: %w", e.Cfg.Data, err)
	}
	st, err := store.Open(e.Cfg.Data, store.Options{Logger: quietLogger()})
	if err != nil {
		return err
	}
	defer st.Close()
	e.St = st
	return fn(e)
}

// callStaged runs a hidden command in the server, showing its output
// with the staging path replaced by the user's.
func callStaged(e *Env, words string, args []string, staged, user string) error {
	var errb strings.Builder
	out := &replaceWriter{w: e.Out, old: staged, new: user}
	code, err := callServer(e.Cfg.Data, e.Cfg.ControlTimeout, Request{Words: words, Args: args, TTY: e.TTY}, out, &errb)
	if err != nil {
		return err
	}
	if code != 0 {
		msg := strings.TrimPrefix(strings.TrimSpace(errb.String()), "authsmtp: ")
		return errors.New(strings.ReplaceAll(msg, staged, user))
	}
	return nil
}

func stagedImport(e *Env) error {
	addr, path := e.Args[0], e.Args[1]
	if !serverRunning(e.Cfg.Data) {
		return runDirect(e, cmdImport)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("importing: %w", err)
	}
	stage, err := os.MkdirTemp(e.Cfg.Data, ".import-")
	if err != nil {
		return fmt.Errorf("importing: staging: %w", err)
	}
	defer os.RemoveAll(stage)
	dst := filepath.Join(stage, filepath.Base(path))
	if err := copyTree(path, dst); err != nil {
		return fmt.Errorf("importing: copying %s: %w", path, err)
	}
	if err := chownTreeLike(stage, e.Cfg.Data); err != nil {
		return fmt.Errorf("importing: staging: %w", err)
	}
	return callStaged(e, "import-staged", []string{addr, dst}, dst, path)
}

func stagedExport(e *Env) error {
	addr, dir := e.Args[0], e.Args[1]
	if !serverRunning(e.Cfg.Data) {
		return runDirect(e, cmdExport)
	}
	for _, sub := range []string{"cur", "new"} {
		if _, err := os.Stat(filepath.Join(dir, sub)); err == nil {
			return fmt.Errorf("exporting to %s: it already holds a Maildir: choose a new or empty directory", dir)
		}
	}
	stage, err := os.MkdirTemp(e.Cfg.Data, ".export-")
	if err != nil {
		return fmt.Errorf("exporting: staging: %w", err)
	}
	defer os.RemoveAll(stage)
	if err := chownTreeLike(stage, e.Cfg.Data); err != nil {
		return fmt.Errorf("exporting: staging: %w", err)
	}
	out := filepath.Join(stage, "maildir")
	if err := callStaged(e, "export-staged", []string{addr, out}, out, dir); err != nil {
		return err
	}
	if err := copyTree(out, dir); err != nil {
		return fmt.Errorf("exporting: copying to %s: %w", dir, err)
	}
	return nil
}

// copyTree copies a file or a directory tree of regular files, keeping
// modification times (Maildir keeps delivery dates in them).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case !info.Mode().IsRegular():
			return nil // sockets, links: not mail
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		return os.Chtimes(target, info.ModTime(), info.ModTime())
	})
}

// chownTreeLike gives a tree the owner of dir when running as root, so
// the server's user can read and write it.
func chownTreeLike(root, dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(st.Uid), int(st.Gid))
	})
}

// replaceWriter rewrites one path into another in each write (the
// server writes its summary a line at a time).
type replaceWriter struct {
	w        io.Writer
	old, new string
}

func (r *replaceWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, strings.ReplaceAll(string(p), r.old, r.new)); err != nil {
		return 0, err
	}
	return len(p), nil
}

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
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// backupCommands copy the whole store out and put a copy back.
func backupCommands() []Command {
	return []Command{
		{Words: "backup", Usage: "FILE   (a consistent copy while the server runs; - writes to stdout)", NArgs: [2]int{1, 1}, Paths: []int{0}, Local: true, NoStore: true, Run: cmdBackup},
		{Words: "backup-stream", Usage: "  (the backup on stdout; used by backup)", NArgs: [2]int{0, 0}, Hidden: true, Run: cmdBackupStream},
		{Words: "restore", Usage: "FILE   (with the server stopped; the current database is kept beside it)", NArgs: [2]int{1, 1}, Paths: []int{0}, Local: true, NoStore: true, Run: cmdRestore},
	}
}

// cmdBackup writes the backup. The copy is taken by whoever holds the
// database (the running server, through the control socket, in a read
// transaction while mail keeps flowing; else this process) and streamed
// here, so FILE is written by the user running the command, with their
// rights: a hardened service (read-only system) or a container need not
// be able to write where the backup goes.
func cmdBackup(e *Env) error {
	if store.IsPostgres(e.Cfg.Store) {
		return fmt.Errorf("backup: %w", store.ErrNoBackup)
	}
	dst := e.Args[0]
	if dst == "-" {
		_, err := streamBackup(e.Cfg.Data, e.Cfg.ControlTimeout, e.Out)
		return err
	}
	start := time.Now()
	dir := filepath.Dir(dst)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("backup to %s: the directory %s does not exist", dst, dir)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		// Name the directory the user chose, not our temporary file.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("backup to %s: cannot write in %s: %w", dst, dir, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	n, err := streamBackup(e.Cfg.Data, e.Cfg.ControlTimeout, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	info, err := store.CheckBackup(tmp.Name())
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		d.Sync()
		d.Close()
	}
	fmt.Fprintf(e.Out, "backup written to %s (%s, %s) in %s\n",
		dst, humanBytes(n), counts(info), time.Since(start).Round(time.Millisecond))
	return nil
}

// streamBackup writes a backup of the database in data to w, through the
// running server when there is one.
func streamBackup(data string, idle time.Duration, w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	var errb strings.Builder
	code, err := callServer(data, idle, Request{Words: "backup-stream"}, cw, &errb)
	switch {
	case errors.Is(err, errNoServer):
		if _, err := os.Stat(filepath.Join(data, store.DBFile)); err != nil {
			return 0, fmt.Errorf("backup: no database in %s: %w", data, err)
		}
		st, err := store.Open(data, store.Options{Logger: quietLogger()})
		if err != nil {
			return 0, err
		}
		defer st.Close()
		return st.Backup(w)
	case err != nil:
		return cw.n, err
	case code != 0:
		return cw.n, errors.New(strings.TrimPrefix(strings.TrimSpace(errb.String()), "authsmtp: "))
	}
	if cw.n == 0 {
		return 0, errors.New("backup: the server sent nothing")
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// cmdBackupStream runs where the database is open: the backup on Out.
func cmdBackupStream(e *Env) error {
	_, err := e.St.Backup(e.Out)
	return err
}

// cmdRestore checks the backup and puts it in place. It never runs in the
// server: a running server holds the old file open and would overwrite
// the restored one.
func cmdRestore(e *Env) error {
	if store.IsPostgres(e.Cfg.Store) {
		return fmt.Errorf("restore: %w", store.ErrNoBackup)
	}
	data := e.Cfg.Data
	if c, err := net.DialTimeout("unix", SocketPath(data), time.Second); err == nil {
		c.Close()
		return fmt.Errorf("authsmtp serve is running on %s: stop it first (systemctl stop authsmtp, docker stop ...), then run restore again", data)
	}
	kept, info, err := store.Restore(data, e.Args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "restored %s into %s: %s (schema %d)\n", e.Args[0], data, counts(info), info.Schema)
	if kept != "" {
		fmt.Fprintf(e.Out, "the previous database is kept as %s\n", kept)
	}
	fmt.Fprintln(e.Out, "start authsmtp serve again to use it")
	return nil
}

// counts says what a backup holds: "1 domain, 2 users, 0 messages, 0 queued".
func counts(info store.BackupInfo) string {
	return fmt.Sprintf("%s, %s, %s, %d queued", plural(info.Domains, "domain"), plural(info.Users, "user"), plural(info.Messages, "message"), info.Queue)
}

// plural is "1 domain" or "2 domains".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

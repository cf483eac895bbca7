package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/mailio"
)

// opsCommands run the host: backup and restore of the whole store, mail
// import and export, and the container health check.
func opsCommands() []command {
	return []command{
		{Words: "backup", Usage: "FILE   (a consistent copy while the server runs; - writes to stdout)", NArgs: [2]int{1, 1}, Paths: []int{0}, Local: true, NoStore: true, Run: cmdBackup},
		{Words: "backup-stream", Usage: "  (the backup on stdout; used by backup)", NArgs: [2]int{0, 0}, Hidden: true, Run: cmdBackupStream},
		{Words: "restore", Usage: "FILE   (with the server stopped; the current database is kept beside it)", NArgs: [2]int{1, 1}, Paths: []int{0}, Local: true, NoStore: true, Run: cmdRestore},
		{Words: "import", Usage: "ADDRESS PATH   (mbox file, Maildir, or a folder of them)", NArgs: [2]int{2, 2}, Paths: []int{1}, Local: true, NoStore: true, Run: stagedImport},
		{Words: "export", Usage: "ADDRESS DIR   (to Maildir)", NArgs: [2]int{2, 2}, Paths: []int{1}, Local: true, NoStore: true, Run: stagedExport},
		{Words: "import-staged", Usage: "ADDRESS PATH   (used by import)", NArgs: [2]int{2, 2}, Hidden: true, Run: cmdImport},
		{Words: "export-staged", Usage: "ADDRESS DIR   (used by export)", NArgs: [2]int{2, 2}, Hidden: true, Run: cmdExport},
		{Words: "healthcheck", Usage: "  (exit 0 when the server answers /healthz on --https)", NArgs: [2]int{0, 0}, Local: true, NoStore: true, Run: cmdHealthcheck},
	}
}

// cmdBackup writes the backup. The copy is taken by whoever holds the
// database (the running server, through the control socket, in a read
// transaction while mail keeps flowing; else this process) and streamed
// here, so FILE is written by the user running the command, with their
// rights: a hardened service (read-only system) or a container need not
// be able to write where the backup goes.
func cmdBackup(e *cmdEnv) error {
	dst := e.Args[0]
	if dst == "-" {
		_, err := streamBackup(e.Cfg.Data, e.Out)
		return err
	}
	start := time.Now()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	n, err := streamBackup(e.Cfg.Data, tmp)
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
	fmt.Fprintf(e.Out, "backup written to %s (%s, %d domains, %d users, %d messages, %d queued) in %s\n",
		dst, humanBytes(n), info.Domains, info.Users, info.Messages, info.Queue, time.Since(start).Round(time.Millisecond))
	return nil
}

// streamBackup writes a backup of the database in data to w, through the
// running server when there is one.
func streamBackup(data string, w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	var errb strings.Builder
	code, err := callServer(data, controlRequest{Words: "backup-stream"}, cw, &errb)
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
func cmdBackupStream(e *cmdEnv) error {
	_, err := e.St.Backup(e.Out)
	return err
}

// cmdRestore checks the backup and puts it in place. It never runs in the
// server: a running server holds the old file open and would overwrite
// the restored one.
func cmdRestore(e *cmdEnv) error {
	data := e.Cfg.Data
	if c, err := net.DialTimeout("unix", socketPath(data), time.Second); err == nil {
		c.Close()
		return fmt.Errorf("authsmtp serve is running on %s: stop it first (systemctl stop authsmtp, docker stop ...), then run restore again", data)
	}
	kept, info, err := store.Restore(data, e.Args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "restored %s into %s: %d domains, %d users, %d messages, %d queued (schema %d)\n",
		e.Args[0], data, info.Domains, info.Users, info.Messages, info.Queue, info.Schema)
	if kept != "" {
		fmt.Fprintf(e.Out, "the previous database is kept as %s\n", kept)
	}
	fmt.Fprintln(e.Out, "start authsmtp serve again to use it")
	return nil
}

// cmdHealthcheck asks the running server's web listener for /healthz. It
// is the container's HEALTHCHECK (the image has no curl).
func cmdHealthcheck(e *cmdEnv) error {
	addr := e.Cfg.HTTPS
	if addr == "" {
		// No web listener: a server that answers its control socket is up.
		if !serverRunning(e.Cfg.Data) {
			return fmt.Errorf("healthcheck: no server answers on %s", socketPath(e.Cfg.Data))
		}
		fmt.Fprintln(e.Out, "ok: the server answers on its control socket (--https is off)")
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: --https %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		// The server's own certificate is checked by its users; here the
		// question is only whether it answers.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	resp, err := client.Get("https://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %s: %s", resp.Status, body)
	}
	fmt.Fprintf(e.Out, "ok: %s\n", body)
	return nil
}

// cmdImport reads mbox files and Maildirs into a user's mailboxes.
func cmdImport(e *cmdEnv) error {
	bar := newProgressBar(e)
	start := time.Now()
	sum, err := mailio.Import(e.St, e.Args[0], e.Args[1], mailio.Options{Progress: bar.show})
	bar.done()
	if sum != nil {
		printSummary(e.Out, "imported", e.Args[0], sum, time.Since(start))
	}
	return err
}

// cmdExport writes a user's mailboxes to a Maildir++ tree.
func cmdExport(e *cmdEnv) error {
	bar := newProgressBar(e)
	start := time.Now()
	sum, err := mailio.Export(e.St, e.Args[0], e.Args[1], bar.show)
	bar.done()
	if sum != nil {
		printSummary(e.Out, "exported", e.Args[0], sum, time.Since(start))
	}
	return err
}

func printSummary(w io.Writer, verb, addr string, sum *mailio.Summary, took time.Duration) {
	fmt.Fprintf(w, "%s %d messages (%s) for %s in %s\n", verb, sum.Messages, humanBytes(sum.Bytes), addr, took.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range sum.Folders {
		fmt.Fprintf(tw, "  %s\t%d\n", f.Name, f.Count)
	}
	tw.Flush()
	if sum.Present > 0 {
		fmt.Fprintf(w, "%d messages were already there and were not imported again\n", sum.Present)
	}
	if len(sum.Skipped) > 0 {
		fmt.Fprintf(w, "skipped %d bad messages (nothing of them was stored):\n", len(sum.Skipped))
		for _, s := range sum.Skipped {
			fmt.Fprintf(w, "  %s: %s\n", s.Source, s.Reason)
		}
	}
}

// progressBar draws "[#####.....] 120/500 INBOX" on a terminal, at most
// ten times a second; elsewhere it draws nothing.
type progressBar struct {
	w    io.Writer
	on   bool
	last time.Time
	drew bool
}

func newProgressBar(e *cmdEnv) *progressBar { return &progressBar{w: e.Out, on: e.TTY} }

func (b *progressBar) show(p mailio.Progress) {
	if !b.on || (time.Since(b.last) < 100*time.Millisecond && p.Done != p.Total) {
		return
	}
	b.last = time.Now()
	const width = 30
	fill := width
	if p.Total > 0 {
		fill = width * p.Done / p.Total
	}
	fmt.Fprintf(b.w, "\r[%s%s] %d/%d %-24.24s", strings.Repeat("#", fill), strings.Repeat(".", width-fill), p.Done, p.Total, p.Folder)
	if f, ok := b.w.(interface{ Flush() error }); ok {
		f.Flush()
	}
	b.drew = true
}

func (b *progressBar) done() {
	if b.drew {
		fmt.Fprintln(b.w)
	}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

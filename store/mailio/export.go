package mailio

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/authsmtp/authsmtp/store"
)

// Export writes every mailbox of address to dir as a Maildir++ tree:
// INBOX in dir itself, other mailboxes in dir/.Name (hierarchy "/" as
// "."), each message a file in cur/ named with its flags, LF line ends,
// and its internal date as the file time. dir must not hold a Maildir
// already, so running it twice never mixes two exports.
func Export(st *store.Store, address, dir string, progress func(Progress)) (*Summary, error) {
	if _, err := st.GetUser(address); err != nil {
		return nil, fmt.Errorf("exporting %s: %w", address, err)
	}
	if isMaildir(dir) {
		return nil, fmt.Errorf("exporting to %s: it already holds a Maildir: choose a new or empty directory", dir)
	}
	boxes, err := st.ListMailboxes(address)
	if err != nil {
		return nil, fmt.Errorf("exporting %s: %w", address, err)
	}
	type box struct {
		name string
		msgs []store.Message
	}
	var all []box
	total := 0
	for _, b := range boxes {
		msgs, err := st.ListMessages(address, b.Name)
		if err != nil {
			return nil, fmt.Errorf("exporting %s: %w", b.Name, err)
		}
		all = append(all, box{b.Name, msgs})
		total += len(msgs)
	}
	sum := &Summary{}
	done := 0
	for _, b := range all {
		mdir := maildirPath(dir, b.name)
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(mdir, sub), 0o700); err != nil {
				return sum, fmt.Errorf("exporting %s: %w", b.name, err)
			}
		}
		if len(b.msgs) == 0 {
			sum.Folders = append(sum.Folders, FolderCount{b.name, 0})
		}
		for _, m := range b.msgs {
			body, err := st.Body(m.BodyID)
			if err != nil {
				return sum, fmt.Errorf("exporting %s UID %d: %w", b.name, m.UID, err)
			}
			body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
			name := fmt.Sprintf("%d.M%dU%d.authsmtp:2,%s", m.Date.Unix(), m.UID, m.UID, maildirFlagLetters(m.Flags))
			if err := writeMaildirFile(mdir, name, body); err != nil {
				return sum, fmt.Errorf("exporting %s UID %d: %w", b.name, m.UID, err)
			}
			os.Chtimes(filepath.Join(mdir, "cur", name), m.Date, m.Date)
			sum.add(b.name, len(body))
			done++
			if progress != nil {
				progress(Progress{Folder: b.name, Done: done, Total: total})
			}
		}
	}
	if err := syncFS(dir); err != nil {
		return sum, fmt.Errorf("exporting: flushing %s to disk: %w", dir, err)
	}
	return sum, nil
}

// maildirPath is where a mailbox goes in a Maildir++ tree.
func maildirPath(root, name string) string {
	if name == "INBOX" {
		return root
	}
	parts := strings.Split(name, "/")
	for i, p := range parts {
		// "." separates levels in Maildir++: keep it out of names.
		parts[i] = strings.ReplaceAll(p, ".", "_")
	}
	return filepath.Join(root, "."+strings.Join(parts, "."))
}

// writeMaildirFile writes tmp/name, fsyncs it and moves it to cur/.
func writeMaildirFile(mdir, name string, body []byte) error {
	tmp := filepath.Join(mdir, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	// No fsync per file: Export syncs the file system once at the end.
	_, err = f.Write(body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	dst := filepath.Join(mdir, "cur", name)
	if _, err := os.Stat(dst); err == nil {
		os.Remove(tmp)
		return errors.New("file exists: " + dst)
	}
	return os.Rename(tmp, dst)
}

// maildirFlagLetters is the ":2," info of a message's flags, letters in
// ASCII order as the Maildir spec asks.
func maildirFlagLetters(flags []string) string {
	var l []string
	for _, f := range flags {
		switch f {
		case `\Draft`:
			l = append(l, "D")
		case `\Flagged`:
			l = append(l, "F")
		case "$Forwarded":
			l = append(l, "P")
		case `\Answered`:
			l = append(l, "R")
		case `\Seen`:
			l = append(l, "S")
		case `\Deleted`:
			l = append(l, "T")
		}
	}
	sort.Strings(l)
	return strings.Join(l, "")
}

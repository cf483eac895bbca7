// Package mailio moves mail between a user's mailboxes and the files
// other mail systems keep: it imports mbox files and Maildir folders and
// exports mailboxes to Maildir.
//
// Import works message by message: each message is read whole, checked
// (a header with at least one field, no NUL bytes, not empty, not over the size
// limit), turned to CRLF line endings, and stored in one transaction with
// its flags and date. A bad message is reported and skipped; none is ever
// half stored. Folders are kept: Maildir++ subfolders (.Sent, .Lists.go),
// nested Maildirs and mbox files in a directory tree (Thunderbird's
// X.sbd/ directories included) become mailboxes of the same name, with
// "/" as the hierarchy delimiter.
package mailio

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/mailparse"
)

// DefaultMaxSize is the largest message imported when Options.MaxSize is 0.
const DefaultMaxSize = 64 << 20

// Options tunes Import.
type Options struct {
	// Progress is called after each message (imported or skipped); nil: none.
	Progress func(Progress)
	// MaxSize is the largest message imported, in bytes (0: DefaultMaxSize).
	MaxSize int64
}

// Progress is where an import stands.
type Progress struct {
	Folder      string
	Done, Total int
}

// Summary is what an import or export did.
type Summary struct {
	Messages int
	Bytes    int64
	Folders  []FolderCount // in the order first met
	Skipped  []Skipped
	// Present counts messages not imported because the same message
	// (byte for byte) was already in that mailbox before the import: an
	// interrupted import can simply be run again.
	Present int
}

// FolderCount is the number of messages put in one mailbox.
type FolderCount struct {
	Name  string
	Count int
}

// Skipped is one message that was not imported, and why.
type Skipped struct {
	Source string // file, and message number in an mbox
	Reason string
}

func (s *Summary) add(folder string, size int) {
	s.Messages++
	s.Bytes += int64(size)
	for i := range s.Folders {
		if s.Folders[i].Name == folder {
			s.Folders[i].Count++
			return
		}
	}
	s.Folders = append(s.Folders, FolderCount{folder, 1})
}

// rawMessage is one message read from a source, before checking.
type rawMessage struct {
	source string
	data   []byte
	flags  []string
	date   time.Time // zero: use the Date header, else now
	bad    string    // why the reader could not take it ("" if it could)
}

// folderSource is one mailbox's worth of messages in a source.
type folderSource struct {
	name  string // mailbox name
	count int    // messages (for the progress total)
	each  func(maxSize int64, fn func(rawMessage) error) error
}

// Import reads path (an mbox file, a Maildir, or a directory holding
// either) into address's mailboxes. The error is for a path that cannot
// be read at all or a store failure; bad messages are in Summary.Skipped.
func Import(st *store.Store, address, path string, opts Options) (*Summary, error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if _, err := st.GetUser(address); err != nil {
		return nil, fmt.Errorf("importing into %s: %w", address, err)
	}
	folders, err := discover(path)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", path, err)
	}
	total := 0
	for _, f := range folders {
		total += f.count
	}
	sum := &Summary{}
	done := 0
	for _, f := range folders {
		if _, err := st.EnsureMailbox(address, f.name); err != nil {
			return sum, fmt.Errorf("creating mailbox %s: %w", f.name, err)
		}
		have, err := present(st, address, f.name)
		if err != nil {
			return sum, err
		}
		b := &batch{st: st, address: address, folder: f.name, sum: sum}
		err = f.each(opts.MaxSize, func(m rawMessage) error {
			done++
			defer func() {
				if opts.Progress != nil {
					opts.Progress(Progress{Folder: f.name, Done: done, Total: total})
				}
			}()
			body, date, err := check(m, opts.MaxSize)
			if err != nil {
				sum.Skipped = append(sum.Skipped, Skipped{m.source, err.Error()})
				return nil
			}
			if have[sha256.Sum256(body)] {
				sum.Present++
				return nil
			}
			return b.add(store.ImportMessage{Body: body, Flags: m.flags, Date: date}, m.source)
		})
		if err == nil {
			err = b.flush()
		}
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// present hashes the messages a mailbox holds before the import.
func present(st *store.Store, address, folder string) (map[[32]byte]bool, error) {
	have := map[[32]byte]bool{}
	msgs, err := st.ListMessages(address, folder)
	if err != nil {
		return nil, fmt.Errorf("reading mailbox %s: %w", folder, err)
	}
	for _, m := range msgs {
		body, err := st.Body(m.BodyID)
		if err != nil {
			return nil, fmt.Errorf("reading mailbox %s: %w", folder, err)
		}
		have[sha256.Sum256(body)] = true
	}
	return have, nil
}

// Batches of messages share one transaction (one fsync) up to these sizes.
const (
	batchMessages = 256
	batchBytes    = 16 << 20
)

// batch collects checked messages of one folder and stores them together.
type batch struct {
	st      *store.Store
	address string
	folder  string
	sum     *Summary
	msgs    []store.ImportMessage
	sources []string
	bytes   int
}

func (b *batch) add(m store.ImportMessage, source string) error {
	b.msgs = append(b.msgs, m)
	b.sources = append(b.sources, source)
	b.bytes += len(m.Body)
	if len(b.msgs) >= batchMessages || b.bytes >= batchBytes {
		return b.flush()
	}
	return nil
}

// flush stores the batch. Over quota, it stores message by message what
// still fits, then stops the import with the quota error.
func (b *batch) flush() error {
	if len(b.msgs) == 0 {
		return nil
	}
	msgs, sources := b.msgs, b.sources
	b.msgs, b.sources, b.bytes = nil, nil, 0
	_, err := b.st.AppendBatch(b.address, b.folder, msgs)
	if err == nil {
		for _, m := range msgs {
			b.sum.add(b.folder, len(m.Body))
		}
		return nil
	}
	if !errors.Is(err, store.ErrOverQuota) {
		return fmt.Errorf("storing messages from %s: %w", sources[0], err)
	}
	for i, m := range msgs {
		if _, err := b.st.Append(b.address, b.folder, m.Body, m.Flags, m.Date); err != nil {
			if errors.Is(err, store.ErrOverQuota) {
				return fmt.Errorf("%s: %w (imported %d messages so far)", sources[i], err, b.sum.Messages)
			}
			return fmt.Errorf("storing %s: %w", sources[i], err)
		}
		b.sum.add(b.folder, len(m.Body))
	}
	return nil
}

// check validates one message and returns it with CRLF line endings and
// its internal date.
func check(m rawMessage, maxSize int64) ([]byte, time.Time, error) {
	if m.bad != "" {
		return nil, time.Time{}, errors.New(m.bad)
	}
	if len(bytes.TrimSpace(m.data)) == 0 {
		return nil, time.Time{}, errors.New("empty message")
	}
	if int64(len(m.data)) > maxSize {
		return nil, time.Time{}, fmt.Errorf("message of %d bytes is over the %d byte limit", len(m.data), maxSize)
	}
	if bytes.IndexByte(m.data, 0) >= 0 {
		return nil, time.Time{}, errors.New("message contains NUL bytes")
	}
	body := toCRLF(m.data)
	h := mailparse.ReadHeader(body, mailparse.Limits{})
	if len(h.Fields) == 0 {
		return nil, time.Time{}, errors.New("bad header: no header fields")
	}
	date := m.date
	if date.IsZero() {
		if t, err := parseDate(h.Get("Date")); err == nil {
			date = t
		} else {
			date = time.Now()
		}
	}
	return body, date, nil
}

// toCRLF turns LF and CRLF line ends into CRLF and ends the message with
// one (stored bodies always end in CRLF).
func toCRLF(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/32+2)
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	if !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

// parseDate reads an RFC 5322 Date header, tolerating common deviations.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "("); i > 0 { // a trailing "(UTC)" comment
		s = strings.TrimSpace(s[:i])
	}
	for _, layout := range []string{
		time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 -0700", "2 Jan 2006 15:04:05 -0700",
		time.RFC1123, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04 -0700",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable date %q", s)
}

// cleanFolder makes a mailbox name from a path-derived name: components
// joined by "/", control and IMAP wildcard characters replaced, and an
// inbox by any spelling called INBOX.
func cleanFolder(parts []string) string {
	var out []string
	for _, p := range parts {
		// File names need not be UTF-8 (a Latin-1 "Entwürfe"): repair, as
		// mailbox names must be.
		p = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || r == '*' || r == '%' || r == '/' {
				return '_'
			}
			return r
		}, strings.TrimSpace(strings.ToValidUTF8(p, "_")))
		if p == "." || p == ".." {
			p = "_"
		}
		if len(p) > 64 {
			p = strings.ToValidUTF8(p[:64], "")
		}
		if p != "" {
			out = append(out, p)
		}
	}
	if len(out) > store.MaxMailboxDepth {
		out = out[:store.MaxMailboxDepth]
	}
	if len(out) == 0 {
		return "INBOX"
	}
	if strings.EqualFold(out[0], "inbox") {
		out[0] = "INBOX"
	}
	return strings.Join(out, "/")
}

package mailio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store/mailparse"
)

// discover finds the folders under path.
func discover(path string) ([]folderSource, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().IsRegular() {
		ok, err := isMbox(path)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errors.New("not an mbox file (it does not start with a \"From \" line) and not a directory")
		}
		f, err := mboxFolder(path, []string{mboxName(filepath.Base(path))})
		if err != nil {
			return nil, err
		}
		return []folderSource{f}, nil
	}
	if !fi.IsDir() {
		return nil, errors.New("neither a file nor a directory")
	}
	var out []folderSource
	if isMaildir(path) {
		f, err := maildirFolder(path, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if err := walk(path, nil, isMaildir(path), &out); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no mbox file or Maildir found there")
	}
	return out, nil
}

// walk adds the folders inside dir. maildirRoot is true when dir is a
// Maildir whose ".Name" entries are Maildir++ subfolders.
func walk(dir string, parts []string, maildirRoot bool, out *[]folderSource) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents { // ReadDir sorts by name
		name := e.Name()
		full := filepath.Join(dir, name)
		if e.IsDir() {
			if maildirRoot && (name == "cur" || name == "new" || name == "tmp") {
				continue
			}
			if maildirRoot && strings.HasPrefix(name, ".") && len(name) > 1 && isMaildir(full) {
				// Maildir++: .Lists.golang is Lists/golang.
				f, err := maildirFolder(full, append(append([]string{}, parts...), strings.Split(name[1:], ".")...))
				if err != nil {
					return err
				}
				*out = append(*out, f)
				continue
			}
			if strings.HasPrefix(name, ".") {
				continue
			}
			sub := append(append([]string{}, parts...), strings.TrimSuffix(name, ".sbd"))
			if isMaildir(full) {
				f, err := maildirFolder(full, sub)
				if err != nil {
					return err
				}
				*out = append(*out, f)
			}
			if err := walk(full, sub, isMaildir(full), out); err != nil {
				return err
			}
			continue
		}
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".msf") {
			continue
		}
		if ok, _ := isMbox(full); ok {
			f, err := mboxFolder(full, append(append([]string{}, parts...), mboxName(name)))
			if err != nil {
				return err
			}
			*out = append(*out, f)
		}
	}
	return nil
}

func isMaildir(dir string) bool {
	for _, s := range []string{"cur", "new"} {
		if fi, err := os.Stat(filepath.Join(dir, s)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

func isMbox(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 5)
	n, _ := io.ReadFull(f, buf)
	return string(buf[:n]) == "From ", nil
}

// mboxName is the folder name of an mbox file: "Sent.mbox" is Sent,
// "mbox" (the classic spool) is INBOX.
func mboxName(file string) string {
	n := strings.TrimSuffix(strings.TrimSuffix(file, ".mbox"), ".mbx")
	if strings.EqualFold(n, "mbox") {
		return "INBOX"
	}
	return n
}

// ---- mbox ----

// fromLine matches an mbox separator: "From " sender, then a date with a
// time and a year (asctime form), so that a body line like "From here
// on..." that was not escaped is not taken for one.
var fromLine = regexp.MustCompile(`^From \S*\s+.*\d{1,2}:\d\d(:\d\d)?.*\d{4}\s*$`)

// escapedFrom is mboxrd/mboxo quoting of a body line starting "From ".
var escapedFrom = regexp.MustCompile(`^>+From `)

func mboxFolder(path string, parts []string) (folderSource, error) {
	n := 0
	f, err := os.Open(path)
	if err != nil {
		return folderSource{}, err
	}
	err = scanMbox(f, 1<<62, func(int, string, []byte, bool) error { n++; return nil })
	f.Close()
	if err != nil {
		return folderSource{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return folderSource{name: cleanFolder(parts), count: n, each: func(max int64, fn func(rawMessage) error) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return scanMbox(f, max, func(i int, from string, data []byte, tooBig bool) error {
			m := rawMessage{source: fmt.Sprintf("%s message %d", path, i), data: data, date: fromLineDate(from)}
			switch {
			case i == 0:
				m.source, m.bad = path, "text before the first From line"
			case tooBig:
				m.bad = fmt.Sprintf("message over the %d byte limit", max)
			default:
				var deleted bool
				if m.flags, deleted = mboxFlags(data); deleted {
					m.bad = "deleted in Thunderbird but not compacted away"
				}
			}
			return fn(m)
		})
	}}, nil
}

// scanMbox calls fn for each message in r: its number (1...; 0 for text
// before the first separator, only when that text is not blank), its
// From line, and its data with From-quoting undone and the blank line
// before the next separator dropped. Messages over max bytes are passed
// with tooBig and no data.
func scanMbox(r io.Reader, max int64, fn func(n int, from string, data []byte, tooBig bool) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var cur []byte
	var from string
	n := 0
	tooBig := false
	prevBlank := true
	flush := func() error {
		if n == 0 && len(bytes.TrimSpace(cur)) == 0 {
			return nil
		}
		// One blank line before the separator belongs to the mbox format.
		if bytes.HasSuffix(cur, []byte("\r\n\r\n")) {
			cur = cur[:len(cur)-2]
		} else if bytes.HasSuffix(cur, []byte("\n\n")) {
			cur = cur[:len(cur)-1]
		}
		data := cur
		if tooBig {
			data = nil
		}
		return fn(n, from, data, tooBig)
	}
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if prevBlank && bytes.HasPrefix(line, []byte("From ")) && fromLine.Match(bytes.TrimRight(line, "\r\n")) {
				if err := flush(); err != nil {
					return err
				}
				n++
				cur, tooBig = nil, false
				from = string(bytes.TrimRight(line, "\r\n"))
				prevBlank = false
				continue
			}
			prevBlank = len(bytes.TrimRight(line, "\r\n")) == 0
			if escapedFrom.Match(line) {
				line = line[1:]
			}
			if !tooBig {
				if int64(len(cur)+len(line)) > max {
					tooBig, cur = true, nil
				} else {
					cur = append(cur, line...)
				}
			}
		}
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			return err
		}
	}
}

// fromLineDate reads the asctime date of an mbox From line.
func fromLineDate(line string) time.Time {
	f := strings.Fields(line)
	if len(f) < 3 {
		return time.Time{}
	}
	s := strings.Join(f[2:], " ")
	for _, layout := range []string{"Mon Jan 2 15:04:05 2006", "Mon Jan 2 15:04:05 -0700 2006", "Mon Jan 2 15:04:05 MST 2006", "Mon Jan 2 15:04 2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// mboxFlags reads the flags mail programs keep in mbox headers: Status
// and X-Status (mutt, Pine), X-Mozilla-Status (Thunderbird). deleted is
// a message Thunderbird marked expunged but never compacted away.
func mboxFlags(data []byte) (flags []string, deleted bool) {
	h := mailparse.ReadHeader(data, mailparse.Limits{})
	flags = []string{}
	add := func(f string) {
		for _, x := range flags {
			if x == f {
				return
			}
		}
		flags = append(flags, f)
	}
	if strings.Contains(h.Get("Status"), "R") {
		add(`\Seen`)
	}
	xs := h.Get("X-Status")
	for c, f := range map[byte]string{'A': `\Answered`, 'F': `\Flagged`, 'D': `\Deleted`, 'T': `\Draft`} {
		if strings.IndexByte(xs, c) >= 0 {
			add(f)
		}
	}
	if v, err := strconv.ParseUint(strings.TrimSpace(h.Get("X-Mozilla-Status")), 16, 16); err == nil {
		if v&0x8 != 0 {
			return nil, true
		}
		if v&0x1 != 0 {
			add(`\Seen`)
		}
		if v&0x2 != 0 {
			add(`\Answered`)
		}
		if v&0x4 != 0 {
			add(`\Flagged`)
		}
	}
	sort.Strings(flags)
	return flags, false
}

// ---- Maildir ----

type maildirFile struct {
	path  string
	flags []string
	mtime time.Time
}

func maildirFolder(dir string, parts []string) (folderSource, error) {
	var files []maildirFile
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return folderSource{}, err
		}
		for _, e := range ents {
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			mf := maildirFile{path: filepath.Join(dir, sub, e.Name()), mtime: fi.ModTime()}
			if sub == "cur" {
				mf.flags = maildirFlags(e.Name())
			}
			files = append(files, mf)
		}
	}
	// Delivery order: Maildir keeps the delivery time as the file's mtime.
	sort.SliceStable(files, func(i, j int) bool {
		if !files[i].mtime.Equal(files[j].mtime) {
			return files[i].mtime.Before(files[j].mtime)
		}
		return files[i].path < files[j].path
	})
	return folderSource{name: cleanFolder(parts), count: len(files), each: func(max int64, fn func(rawMessage) error) error {
		for _, f := range files {
			m := rawMessage{source: f.path, flags: f.flags, date: f.mtime}
			fi, err := os.Stat(f.path)
			if err == nil && fi.Size() > max {
				m.bad = fmt.Sprintf("message over the %d byte limit", max)
			} else if err == nil {
				m.data, err = os.ReadFile(f.path)
			}
			if err != nil {
				m.bad = err.Error()
			}
			if err := fn(m); err != nil {
				return err
			}
		}
		return nil
	}}, nil
}

// maildirFlags reads the flags of a Maildir file name "unique:2,FRS"
// (some systems write "!2," because ":" is not allowed in their names).
func maildirFlags(name string) []string {
	i := strings.LastIndex(name, ":2,")
	if i < 0 {
		i = strings.LastIndex(name, "!2,")
	}
	flags := []string{}
	if i < 0 {
		return flags
	}
	for _, c := range name[i+3:] {
		switch c {
		case 'D':
			flags = append(flags, `\Draft`)
		case 'F':
			flags = append(flags, `\Flagged`)
		case 'P':
			flags = append(flags, "$Forwarded")
		case 'R':
			flags = append(flags, `\Answered`)
		case 'S':
			flags = append(flags, `\Seen`)
		case 'T':
			flags = append(flags, `\Deleted`)
		}
	}
	sort.Strings(flags)
	return flags
}

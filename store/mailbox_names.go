package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Mailbox name rules. Names are UTF-8 (the IMAP layer converts modified
// UTF-7), the hierarchy delimiter is "/", and INBOX is matched without
// regard to case. Refused: empty names and components, leading or trailing
// "/", the components "." and "..", the list wildcards "*" and "%",
// control characters, more than MaxMailboxDepth levels and names longer
// than MaxMailboxName bytes.
const (
	MailboxDelim    = '/'
	MaxMailboxDepth = 16
	MaxMailboxName  = 255
	// MaxMailboxes bounds the folders of one user.
	MaxMailboxes = 1000
)

// ErrBadMailboxName is returned for a name the rules above refuse.
var ErrBadMailboxName = errors.New("invalid mailbox name")

// CanonicalMailboxName checks a mailbox name and returns its stored form
// ("INBOX" for any case of inbox, and for INBOX as a parent).
func CanonicalMailboxName(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrBadMailboxName, truncate(name, 80), why)
	}
	if name == "" {
		return bad("empty")
	}
	if len(name) > MaxMailboxName {
		return bad(fmt.Sprintf("longer than %d bytes", MaxMailboxName))
	}
	if !utf8.ValidString(name) {
		return bad("not UTF-8")
	}
	if strings.ContainsAny(name, "*%") {
		return bad(`"*" and "%" are not allowed`)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return bad("control characters are not allowed")
		}
	}
	parts := strings.Split(name, string(MailboxDelim))
	if len(parts) > MaxMailboxDepth {
		return bad(fmt.Sprintf("deeper than %d levels", MaxMailboxDepth))
	}
	for _, p := range parts {
		switch {
		case p == "":
			return bad("empty hierarchy level (leading, trailing or double /)")
		case p == "." || p == "..":
			return bad(`"." and ".." are not allowed`)
		case strings.TrimSpace(p) != p:
			return bad("leading or trailing spaces")
		}
	}
	if strings.EqualFold(parts[0], "INBOX") {
		parts[0] = "INBOX"
	}
	return strings.Join(parts, string(MailboxDelim)), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Mailbox name rules. Names are UTF-8 (the IMAP layer converts modified
// UTF-7), the hierarchy delimiter is "/", and INBOX is matched without
// regard to case. Names are compared and stored in Unicode NFC, so the
// same name typed on two systems (é precomposed or as e and an accent) is
// one folder. Refused: empty names and components, leading or trailing
// "/", the components "." and "..", the list wildcards "*" and "%",
// control characters, more than MaxMailboxDepth levels and names longer
// than MaxMailboxName bytes. A new name (create, rename, import) is also
// refused if it holds invisible formatting characters (bidi overrides and
// marks, zero-width spaces) or only looks like another folder (see
// CheckNewMailboxName).
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
	name = norm.NFC.String(name)
	if len(name) > MaxMailboxName {
		return bad(fmt.Sprintf("longer than %d bytes", MaxMailboxName))
	}
	if strings.ContainsAny(name, "*%") {
		return bad(`"*" and "%" are not allowed`)
	}
	for _, r := range name {
		if unicode.IsControl(r) { // C0, DEL and C1
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

// CheckNewMailboxName checks a canonical name about to be created (or
// renamed to) against the rules only new names follow, and against the
// user's existing folders (names as stored): a name made only to look like
// another is refused. Folders from before these rules stay usable.
func CheckNewMailboxName(name string, existing []string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrBadMailboxName, truncate(name, 80), why)
	}
	for _, r := range name {
		if invisibleRune(r) {
			return bad(fmt.Sprintf("invisible or text-direction character U+%04X is not allowed", r))
		}
	}
	first, _, _ := strings.Cut(name, string(MailboxDelim))
	if first != "INBOX" && strings.EqualFold(norm.NFKC.String(first), "INBOX") {
		return bad("looks like INBOX")
	}
	look := norm.NFKC.String(name)
	for _, e := range existing {
		if e != name && norm.NFKC.String(e) == look {
			return bad(fmt.Sprintf("looks like the existing folder %q", e))
		}
	}
	return nil
}

// invisibleRune reports characters that change how a name is shown
// without being seen: bidi embeddings, overrides, isolates and marks
// (the right-to-left override turns "cod.exe" into "exe.doc"),
// zero-width spaces, line and paragraph separators. Zero-width joiner and
// non-joiner stay allowed: scripts and emoji need them.
func invisibleRune(r rune) bool {
	switch {
	case r == 0x200C || r == 0x200D:
		return false
	case unicode.Is(unicode.Cf, r), unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r):
		return true
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

package goimapfix

import (
	"mime"
	"strconv"
	"strings"
	"time"
	"unicode"

	goimap "github.com/emersion/go-imap/v2"
)

// go-imap writes each FETCH answer through an encoder that allocates for
// every string it quotes and every list it opens, locks the connection
// and flushes once per message: three quarters of the server's time in
// a UID FETCH 1:* (FLAGS ENVELOPE) of a large mailbox. The Append
// functions below write the same items into a caller's buffer, byte for
// byte as go-imap's FetchResponseWriter and imapwire.Encoder would
// (TestWireMatchesGoIMAP compares them on go-imap itself), so a FETCH of
// such items can be written in large chunks with no allocation per
// message. Body sections and BODYSTRUCTURE still go through go-imap.

// Wire encodes answers as go-imap would on one connection.
type Wire struct {
	// QuotedUTF8 is go-imap's encoder setting of the same name: raw UTF-8
	// may be quoted once IMAP4rev2 or UTF8=ACCEPT is enabled; otherwise a
	// string with 8-bit bytes is sent as a literal.
	QuotedUTF8 bool
}

// Layouts of go-imap's envelope date and INTERNALDATE.
const (
	envelopeDateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"
	internalDateLayout = "_2-Jan-2006 15:04:05 -0700"
)

// validQuoted is imapwire.Encoder.validQuoted.
func (w Wire) validQuoted(s string) bool {
	if len(s) > 4096 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0 || c == '\r' || c == '\n':
			return false
		case !w.QuotedUTF8 && c > unicode.MaxASCII:
			return false
		}
	}
	return true
}

// AppendString is imapwire.Encoder.String on a server: a quoted string
// when it may be one, otherwise a literal.
func (w Wire) AppendString(b []byte, s string) []byte {
	if !w.validQuoted(s) {
		b = append(b, '{')
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, "}\r\n"...)
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// AppendNString is go-imap's writeNString: NIL for "".
func (w Wire) AppendNString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "NIL"...)
	}
	return w.AppendString(b, s)
}

// AppendFetchStart begins the answer for one message: "* seq FETCH (".
func AppendFetchStart(b []byte, seq uint32) []byte {
	b = append(b, "* "...)
	b = strconv.AppendUint(b, uint64(seq), 10)
	return append(b, " FETCH ("...)
}

// AppendFetchEnd ends it.
func AppendFetchEnd(b []byte) []byte { return append(b, ")\r\n"...) }

// AppendUID is the UID item.
func AppendUID(b []byte, uid uint32) []byte {
	b = append(b, "UID "...)
	return strconv.AppendUint(b, uint64(uid), 10)
}

// AppendFlags is the FLAGS item. It reports false, having appended
// nothing, when a flag is one go-imap refuses to write (its encoder then
// fails the command); the caller leaves that message to go-imap.
func AppendFlags(b []byte, flags []string) ([]byte, bool) {
	for _, f := range flags {
		if f != `\*` && !isValidFlag(f) {
			return b, false
		}
	}
	b = append(b, "FLAGS ("...)
	for i, f := range flags {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, f...)
	}
	return append(b, ')'), true
}

// isValidFlag is imapwire's: flag-keyword or flag-extension.
func isValidFlag(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			if i != 0 {
				return false
			}
		} else if !isAtomChar(c) {
			return false
		}
	}
	return len(s) > 0
}

// isAtomChar is imapwire.IsAtomChar.
func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return !unicode.IsControl(rune(c))
}

// AppendInternalDate is the INTERNALDATE item.
func (w Wire) AppendInternalDate(b []byte, t time.Time) []byte {
	b = append(b, `INTERNALDATE "`...)
	b = t.AppendFormat(b, internalDateLayout)
	return append(b, '"')
}

// AppendRFC822Size is the RFC822.SIZE item.
func AppendRFC822Size(b []byte, size int64) []byte {
	b = append(b, "RFC822.SIZE "...)
	return strconv.AppendInt(b, size, 10)
}

// AppendEnvelope is the ENVELOPE item (go-imap's writeEnvelope).
func (w Wire) AppendEnvelope(b []byte, e *goimap.Envelope) []byte {
	b = append(b, "ENVELOPE "...)
	if e == nil {
		e = &goimap.Envelope{}
	}
	b = append(b, '(')
	if e.Date.IsZero() {
		b = append(b, "NIL"...)
	} else {
		b = append(b, '"') // the layout never needs escaping
		b = e.Date.AppendFormat(b, envelopeDateLayout)
		b = append(b, '"')
	}
	b = append(b, ' ')
	b = w.AppendNString(b, mime.QEncoding.Encode("utf-8", e.Subject))
	sender, replyTo := e.Sender, e.ReplyTo
	if sender == nil {
		sender = e.From
	}
	if replyTo == nil {
		replyTo = e.From
	}
	for _, l := range [...][]goimap.Address{e.From, sender, replyTo, e.To, e.Cc, e.Bcc} {
		b = append(b, ' ')
		b = w.appendAddressList(b, l)
	}
	b = append(b, ' ')
	if len(e.InReplyTo) > 0 {
		b = w.AppendString(b, "<"+strings.Join(e.InReplyTo, "> <")+">")
	} else {
		b = append(b, "NIL"...)
	}
	b = append(b, ' ')
	if e.MessageID != "" {
		b = w.appendMessageID(b, e.MessageID)
	} else {
		b = append(b, "NIL"...)
	}
	return append(b, ')')
}

// appendMessageID is AppendString("<" + id + ">") without building it.
func (w Wire) appendMessageID(b []byte, id string) []byte {
	if len(id)+2 > 4096 || !w.validQuoted(id) {
		return w.AppendString(b, "<"+id+">")
	}
	b = append(b, `"<`...)
	for i := 0; i < len(id); i++ {
		if c := id[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, id[i])
	}
	return append(b, `>"`...)
}

func (w Wire) appendAddressList(b []byte, l []goimap.Address) []byte {
	if len(l) == 0 {
		return append(b, "NIL"...)
	}
	b = append(b, '(')
	for i := range l {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, '(')
		b = w.AppendNString(b, mime.QEncoding.Encode("utf-8", l[i].Name))
		b = append(b, " NIL "...)
		b = w.AppendNString(b, l[i].Mailbox)
		b = append(b, ' ')
		b = w.AppendNString(b, l[i].Host)
		b = append(b, ')')
	}
	return append(b, ')')
}

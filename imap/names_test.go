package imap

import (
	"strings"
	"testing"
)

// expect sends one command and checks that its tagged answer starts with
// want (the tag is the command's first word).
func (r *rawConn) expect(cmd, want string) []string {
	r.t.Helper()
	tag, _, _ := strings.Cut(cmd, " ")
	r.send(cmd + "\r\n")
	lines := r.until(tag)
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, tag+" "+want) {
		r.t.Fatalf("%q answered %q, want %s ...", cmd, lines, want)
	}
	return lines
}

// Mailbox names go-imap cannot decode are refused with NO [CANNOT], not
// NO [SERVERBUG]; raw 8-bit names need ENABLE first (RFC 3501 §9), so a
// client that sends them is never shown a second, modified-UTF-7 folder.
func TestMailboxNamesOnTheWire(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.tls, ts.clientTLS)
	r.login()
	r.expect("a SELECT \"INBOX\x00x\"", "NO [CANNOT]")
	r.expect("b CREATE \"a\x01b\"", "NO [CANNOT]")
	r.expect("c CREATE \"&Jjo\"", "NO [CANNOT]")       // unterminated modified UTF-7
	r.expect("d CREATE \"&AGEAYgBj-\"", "NO [CANNOT]") // ASCII encoded
	// Raw UTF-8 from a client that enabled neither IMAP4rev2 nor
	// UTF8=ACCEPT, quoted and as an atom.
	r.expect("e CREATE \"caf\xc3\xa9\"", "BAD")
	r.expect("f CREATE caf\xc3\xa9", "BAD")
	r.expect("g RENAME Junk \"Sp\xc3\xa4m\"", "BAD")
	r.expect("h COPY 1:* \"caf\xc3\xa9\"", "BAD")
	// A refused command with a literal sent without waiting: the literal
	// is skipped and the next command runs.
	r.expect("i RENAME \"a\x00\" {3+}\r\nabc", "NO [CANNOT]")
	r.expect("j NOOP", "OK")
	if mbs, _ := ts.st.ListMailboxes(testUser); len(mbs) != 6 {
		t.Fatalf("mailboxes after refused commands: %+v", mbs)
	}
	// Modified UTF-7 is the way for such a client; LIST shows the name
	// as it was sent.
	r.expect("k CREATE \"caf&AOk-\"", "OK")
	if l := strings.Join(r.expect("l LIST \"\" caf*", "OK"), "\n"); !strings.Contains(l, `"caf&AOk-"`) {
		t.Fatalf("LIST: %s", l)
	}
	// After ENABLE UTF8=ACCEPT raw UTF-8 is the same folder.
	r.expect("m ENABLE UTF8=ACCEPT", "OK")
	r.expect("n SELECT \"caf\xc3\xa9\"", "OK")
	r.expect("o CREATE \"caf\xc3\xa9\"", "NO [ALREADYEXISTS]")
}

// Look-alike names are refused at CREATE and RENAME: fullwidth INBOX,
// compatibility forms of existing folders, bidi overrides and invisible
// characters. Names are stored in NFC, so precomposed and decomposed
// spellings are one folder.
func TestMailboxNameLookAlikes(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.tls, ts.clientTLS)
	r.login()
	r.expect("e ENABLE UTF8=ACCEPT", "OK")
	for i, name := range []string{
		"ＩＮＢＯＸ",                  // fullwidth
		"ｉｎｂｏｘ/Work",             // fullwidth, as a parent
		"Ｓｅｎｔ",                   // fullwidth look-alike of Sent
		"Invoices \u202Efdp.exe", // right-to-left override
		"a\u2066b\u2069",         // bidi isolate
		"Work\u200B",             // zero-width space
		"x\u00ADy",               // soft hyphen
		"a\u2028b",               // line separator
		"a\u0085b",               // C1 control (NEL)
	} {
		tag := string(rune('a' + i))
		r.expect(tag+" CREATE \""+name+"\"", "NO [CANNOT]")
	}
	r.expect("r1 RENAME Junk \"ＩＮＢＯＸ\"", "NO [CANNOT]")
	r.expect("r2 RENAME Junk \"Spam\u202E\"", "NO [CANNOT]")
	r.expect("r3 RENAME INBOX \"Ｔｒａｓｈ\"", "NO [CANNOT]")
	// Decomposed "Café" is stored precomposed; both spellings reach it.
	r.expect("n1 CREATE \"Cafe\u0301\"", "OK")
	r.expect("n2 SELECT \"Caf\u00e9\"", "OK")
	r.expect("n3 CREATE \"Caf\u00e9\"", "NO [ALREADYEXISTS]")
	if _, err := ts.st.GetMailbox(testUser, "Caf\u00e9"); err != nil {
		t.Fatalf("NFC name not stored: %v", err)
	}
	// Names that are fine: joiners in an emoji sequence, accents, CJK.
	r.expect("k1 CREATE \"Family \U0001F468\u200D\U0001F469\u200D\U0001F467\"", "OK")
	r.expect("k2 CREATE \"日本語/Ärger\"", "OK")
	mbs, _ := ts.st.ListMailboxes(testUser)
	if len(mbs) != 6+4 {
		t.Fatalf("mailboxes: %+v", mbs)
	}
}

// ID is answered in every state (RFC 2971), after login as before.
func TestIDAfterLogin(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.tls, ts.clientTLS)
	r.expect(`a ID ("name" "test")`, "OK")
	r.login()
	if l := r.expect(`b ID ("name" "mbsync" "version" "1.4")`, "OK"); !strings.HasPrefix(l[0], "* ID (") {
		t.Fatalf("ID after login: %q", l)
	}
	r.expect("c SELECT INBOX", "OK")
	r.expect("d ID NIL", "OK")
	// IDLE's DONE is not a command; the session goes on.
	r.send("e IDLE\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE answered %q", l)
	}
	r.send("DONE\r\n")
	r.until("e")
	r.expect("f id nil", "OK")
}

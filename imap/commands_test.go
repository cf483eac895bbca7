package imap

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/authsmtp/authsmtp/store"
)

func TestMailboxCommands(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t, nil)

	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []goimap.Cap{goimap.CapIMAP4rev2, goimap.CapIdle, goimap.CapMove, goimap.CapSpecialUse, goimap.CapUIDPlus, goimap.CapNamespace} {
		if !caps.Has(want) {
			t.Errorf("capability %s missing", want)
		}
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Fatalf("NAMESPACE %+v %v", ns, err)
	}

	// The default mailboxes, with their special-use attributes.
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string][]goimap.MailboxAttr{}
	for _, l := range list {
		attrs[l.Mailbox] = l.Attrs
	}
	for name, su := range map[string]goimap.MailboxAttr{"Sent": goimap.MailboxAttrSent, "Drafts": goimap.MailboxAttrDrafts, "Trash": goimap.MailboxAttrTrash, "Junk": goimap.MailboxAttrJunk, "Archive": goimap.MailboxAttrArchive} {
		if !slices.Contains(attrs[name], su) {
			t.Errorf("%s: attrs %v, want %s", name, attrs[name], su)
		}
	}
	if _, ok := attrs["INBOX"]; !ok {
		t.Fatal("no INBOX")
	}
	// LIST (SPECIAL-USE) selection and RETURN (STATUS).
	list, err = c.List("", "*", &goimap.ListOptions{SelectSpecialUse: true, ReturnStatus: &goimap.StatusOptions{NumMessages: true}}).Collect()
	if err != nil || len(list) != 5 || list[0].Status == nil || list[0].Status.NumMessages == nil {
		t.Fatalf("LIST (SPECIAL-USE) RETURN (STATUS): %+v %v", list, err)
	}

	// CREATE/RENAME/DELETE with hierarchy.
	if err := c.Create("Projects/2024", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Projects", nil).Wait(); imapCode(err) != goimap.ResponseCodeAlreadyExists {
		t.Fatalf("parent not created: %v", err)
	}
	list, _ = c.List("", "Projects/%", nil).Collect()
	if len(list) != 1 || list[0].Mailbox != "Projects/2024" {
		t.Fatalf("LIST Projects/%%: %+v", list)
	}
	if err := c.Delete("Projects").Wait(); imapCode(err) != goimap.ResponseCodeHasChildren {
		t.Fatalf("DELETE parent: %v", err)
	}
	if err := c.Rename("Projects", "Old Projects", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status("Old Projects/2024", &goimap.StatusOptions{NumMessages: true}).Wait(); err != nil {
		t.Fatalf("renamed child: %v", err)
	}
	if err := c.Delete("Old Projects/2024").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Fatal("INBOX deleted")
	}
	if err := c.Delete("Nope").Wait(); imapCode(err) != goimap.ResponseCodeNonExistent {
		t.Fatalf("DELETE missing: %v", err)
	}
	// go-imap's client sends UTF-8 names raw once the server advertises
	// IMAP4rev2, without enabling it; raw 8-bit names are allowed only
	// after ENABLE (RFC 3501 §9), so it enables first.
	if _, err := c.Enable(goimap.CapIMAP4rev2).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Käse/Ärger", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.st.GetMailbox(testUser, "Käse/Ärger"); err != nil {
		t.Fatalf("stored name: %v", err)
	}

	// SUBSCRIBE/UNSUBSCRIBE and LSUB-style listing.
	if err := c.Unsubscribe("Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	subs, _ := c.List("", "*", &goimap.ListOptions{SelectSubscribed: true}).Collect()
	for _, l := range subs {
		if l.Mailbox == "Junk" {
			t.Fatal("Junk still subscribed")
		}
	}
	if err := c.Subscribe("Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("Nope").Wait(); err == nil {
		t.Fatal("subscribed a missing mailbox")
	}

	// Bad names.
	for _, bad := range []string{"a/../b", "a*", "b%", "..", strings.Repeat("deep/", 20) + "x", strings.Repeat("x", 300), "/lead", "trail//x"} {
		if err := c.Create(bad, nil).Wait(); err == nil {
			t.Errorf("CREATE %q accepted", bad)
		}
	}
	if err := c.Rename("Archive", "a/../b", nil).Wait(); err == nil {
		t.Error("RENAME to a bad name accepted")
	}
}

func TestMessageCommands(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t, nil)

	date := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
	d := appendMsg(t, c, "INBOX", testMessage(1, "apple"), &goimap.AppendOptions{Flags: []goimap.Flag{goimap.FlagFlagged, "Work"}, Time: date})
	if d.UID != 1 || d.UIDValidity == 0 {
		t.Fatalf("APPENDUID %+v", d)
	}
	appendMsg(t, c, "INBOX", testMessage(2, "banana"), nil)
	multipart := "From: carol@example.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"c2VjcmV0IGNoZXJyeSBpbnNpZGU=\r\n--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\nPDFDATA\r\n--XX--\r\n"
	appendMsg(t, c, "INBOX", []byte(multipart), nil)

	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 3 || sel.UIDNext != 4 {
		t.Fatalf("SELECT %+v %v", sel, err)
	}

	// FETCH of every item.
	msgs, err := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
		BodyStructure: &goimap.FetchItemBodyStructure{Extended: true}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH %v", err)
	}
	m := msgs[0]
	if m.UID != 1 || !slices.Contains(m.Flags, goimap.FlagFlagged) || !slices.Contains(m.Flags, "Work") || !m.InternalDate.Equal(date) ||
		m.RFC822Size != int64(len(testMessage(1, "apple"))) || m.Envelope.Subject != "message 1" || m.Envelope.From[0].Addr() != "bob@example.org" ||
		m.Envelope.MessageID != "1@example.org" || m.BodyStructure.MediaType() != "text/plain" {
		t.Fatalf("FETCH 1: %+v env %+v", m, m.Envelope)
	}
	msgs, err = c.Fetch(goimap.SeqSetNum(3), &goimap.FetchOptions{BodyStructure: &goimap.FetchItemBodyStructure{}, Envelope: true,
		BodySection: []*goimap.FetchItemBodySection{
			{Peek: true, Part: []int{1}},
			{Peek: true, Specifier: goimap.PartSpecifierHeader, HeaderFields: []string{"Subject"}},
			{Peek: true, Partial: &goimap.SectionPartial{Offset: 0, Size: 4}},
		},
		BinarySection: []*goimap.FetchItemBinarySection{{Part: []int{1}, Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	m = msgs[0]
	mp, ok := m.BodyStructure.(*goimap.BodyStructureMultiPart)
	if !ok || len(mp.Children) != 2 || mp.Children[1].MediaType() != "application/pdf" {
		t.Fatalf("BODYSTRUCTURE %#v", m.BodyStructure)
	}
	if m.Envelope.Subject != "Grüße" {
		t.Fatalf("encoded subject %q", m.Envelope.Subject)
	}
	var part1, hdr, prefix string
	for _, bs := range m.BodySection {
		sec, b := bs.Section, bs.Bytes
		switch {
		case len(sec.Part) == 1:
			part1 = string(b)
		case len(sec.HeaderFields) == 1:
			hdr = string(b)
		case sec.Partial != nil:
			prefix = string(b)
		}
	}
	if !strings.Contains(part1, "c2VjcmV0") || !strings.HasPrefix(hdr, "Subject: =?utf-8?q?Gr") || strings.Contains(hdr, "From") || prefix != "From" {
		t.Fatalf("sections part1=%q hdr=%q prefix=%q", part1, hdr, prefix)
	}
	for _, bs := range m.BinarySection {
		if b := bs.Bytes; string(b) != "secret cherry inside" {
			t.Fatalf("BINARY[1] %q", b)
		}
	}

	// BODY[] without PEEK sets \Seen; BODY.PEEK did not.
	if f := fetchFlags(t, c, 3); slices.Contains(f, goimap.FlagSeen) {
		t.Fatal("PEEK set \\Seen")
	}
	msgs, _ = c.Fetch(goimap.SeqSetNum(2), &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{{}}}).Collect()
	for _, bs := range msgs[0].BodySection {
		if b := bs.Bytes; string(b) != string(testMessage(2, "banana")) {
			t.Fatalf("BODY[] %q", b)
		}
	}
	if f := fetchFlags(t, c, 2); !slices.Contains(f, goimap.FlagSeen) {
		t.Fatalf("BODY[] did not set \\Seen: %v", f)
	}

	// STORE variants.
	out, err := c.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagAnswered}}, nil).Collect()
	if err != nil || len(out) != 1 || !slices.Contains(out[0].Flags, goimap.FlagAnswered) {
		t.Fatalf("+FLAGS %+v %v", out, err)
	}
	c.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsDel, Flags: []goimap.Flag{"work"}}, nil).Close()
	if f := fetchFlags(t, c, 1); slices.Contains(f, "Work") {
		t.Fatalf("-FLAGS work: %v", f)
	}
	out, _ = c.Store(goimap.UIDSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsSet, Silent: true, Flags: []goimap.Flag{goimap.FlagDraft}}, nil).Collect()
	if len(out) != 0 {
		t.Fatalf(".SILENT answered %+v", out)
	}
	if f := fetchFlags(t, c, 1); !slices.Equal(f, []goimap.Flag{goimap.FlagDraft}) {
		t.Fatalf("FLAGS.SILENT: %v", f)
	}

	// SEARCH keys.
	search := func(cr *goimap.SearchCriteria) []uint32 {
		t.Helper()
		d, err := c.UIDSearch(cr, nil).Wait()
		if err != nil {
			t.Fatalf("SEARCH %+v: %v", cr, err)
		}
		var out []uint32
		for _, u := range d.AllUIDs() {
			out = append(out, uint32(u))
		}
		return out
	}
	cases := []struct {
		name string
		c    goimap.SearchCriteria
		want []uint32
	}{
		{"all", goimap.SearchCriteria{}, []uint32{1, 2, 3}},
		{"body", goimap.SearchCriteria{Body: []string{"BANANA"}}, []uint32{2}},
		{"text header", goimap.SearchCriteria{Text: []string{"message 1"}}, []uint32{1}},
		{"text base64 part", goimap.SearchCriteria{Text: []string{"cherry"}}, []uint32{3}},
		{"text encoded subject", goimap.SearchCriteria{Text: []string{"grüße"}}, []uint32{3}},
		{"from", goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "From", Value: "CAROL"}}}, []uint32{3}},
		{"subject", goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Subject", Value: "message"}}}, []uint32{1, 2}},
		{"header present", goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: ""}}}, []uint32{1, 2}},
		{"seen", goimap.SearchCriteria{Flag: []goimap.Flag{goimap.FlagSeen}}, []uint32{2}},
		{"unseen", goimap.SearchCriteria{NotFlag: []goimap.Flag{goimap.FlagSeen}}, []uint32{1, 3}},
		{"keyword", goimap.SearchCriteria{Flag: []goimap.Flag{goimap.FlagDraft}}, []uint32{1}},
		{"larger", goimap.SearchCriteria{Larger: 200}, []uint32{3}},
		{"smaller", goimap.SearchCriteria{Smaller: 200}, []uint32{1, 2}},
		{"since", goimap.SearchCriteria{Since: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}, []uint32{2, 3}},
		{"before", goimap.SearchCriteria{Before: time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)}, []uint32{1}},
		{"sentbefore", goimap.SearchCriteria{SentBefore: time.Date(2023, 1, 3, 0, 0, 0, 0, time.UTC)}, []uint32{1, 2}},
		{"sentsince", goimap.SearchCriteria{SentSince: time.Date(2023, 1, 3, 0, 0, 0, 0, time.UTC)}, nil},
		{"uid set", goimap.SearchCriteria{UID: []goimap.UIDSet{{{Start: 2, Stop: 0}}}}, []uint32{2, 3}},
		{"seq set", goimap.SearchCriteria{SeqNum: []goimap.SeqSet{goimap.SeqSetNum(1, 3)}}, []uint32{1, 3}},
		{"not", goimap.SearchCriteria{Not: []goimap.SearchCriteria{{Body: []string{"banana"}}}}, []uint32{1, 3}},
		{"or", goimap.SearchCriteria{Or: [][2]goimap.SearchCriteria{{{Body: []string{"apple"}}, {Body: []string{"banana"}}}}}, []uint32{1, 2}},
	}
	for _, tc := range cases {
		if got := search(&tc.c); !slices.Equal(got, tc.want) {
			t.Errorf("SEARCH %s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// ESEARCH return options.
	ed, err := c.Search(&goimap.SearchCriteria{}, &goimap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true}).Wait()
	if err != nil || ed.Min != 1 || ed.Max != 3 || ed.Count != 3 {
		t.Fatalf("ESEARCH %+v %v", ed, err)
	}

	// COPY, MOVE (with COPYUID), EXPUNGE, UID EXPUNGE.
	cd, err := c.Copy(goimap.SeqSetNum(1, 2), "Archive").Wait()
	if err != nil || cd.UIDValidity == 0 || cd.DestUIDs.String() != "1:2" {
		t.Fatalf("COPY %+v %v", cd, err)
	}
	if _, err := c.Copy(goimap.SeqSetNum(1), "Nope").Wait(); imapCode(err) != goimap.ResponseCodeTryCreate {
		t.Fatalf("COPY to missing: %v", err)
	}
	md, err := c.Move(goimap.UIDSetNum(3), "Trash").Wait()
	if err != nil || md.SourceUIDs.String() != "3" {
		t.Fatalf("MOVE %+v %v", md, err)
	}
	if mb := c.Mailbox(); mb.NumMessages != 2 {
		t.Fatalf("after MOVE the client counts %d", mb.NumMessages)
	}
	c.Store(goimap.SeqSetNum(1, 2), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close()
	ex, err := c.UIDExpunge(goimap.UIDSetNum(2)).Collect()
	if err != nil || !slices.Equal(ex, []uint32{2}) {
		t.Fatalf("UID EXPUNGE %v %v", ex, err)
	}
	ex, err = c.Expunge().Collect()
	if err != nil || !slices.Equal(ex, []uint32{1}) {
		t.Fatalf("EXPUNGE %v %v", ex, err)
	}
	st, _ := c.Status("Archive", &goimap.StatusOptions{NumMessages: true, UIDNext: true, NumUnseen: true, Size: true, NumDeleted: true}).Wait()
	if *st.NumMessages != 2 || st.UIDNext != 3 || *st.NumUnseen != 1 || *st.Size <= 0 || *st.NumDeleted != 0 {
		t.Fatalf("STATUS %+v", st)
	}

	// EXAMINE is read-only; CLOSE expunges, UNSELECT does not.
	if _, err := c.Select("Archive", &goimap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close(); err == nil {
		t.Fatal("STORE in EXAMINE accepted")
	}
	ts.st.SetFlags(testUser, "Archive", []uint32{1}, store.FlagsAdd, []string{`\Deleted`})
	if err := c.Expunge().Close(); err == nil {
		t.Fatal("EXPUNGE in EXAMINE accepted")
	}
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Fatalf("CLOSE of an EXAMINEd mailbox: %v", err)
	}
	if mb, _ := ts.st.GetMailbox(testUser, "Archive"); mb.Messages != 2 {
		t.Fatal("CLOSE of an EXAMINEd mailbox expunged")
	}
	ts.st.SetFlags(testUser, "Archive", []uint32{1}, store.FlagsRemove, []string{`\Deleted`})
	c.Select("Archive", nil).Wait()
	c.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close()
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	if mb, _ := ts.st.GetMailbox(testUser, "Archive"); mb.Messages != 2 {
		t.Fatal("UNSELECT expunged")
	}
	c.Select("Archive", nil).Wait()
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Fatal(err)
	}
	if mb, _ := ts.st.GetMailbox(testUser, "Archive"); mb.Messages != 1 {
		t.Fatalf("CLOSE left %d messages", mb.Messages)
	}

	// ENABLE, and APPEND to a missing mailbox.
	if _, err := c.Enable(goimap.CapIMAP4rev2).Wait(); err != nil {
		t.Fatal(err)
	}
	cmd := c.Append("Nope", 3, nil)
	cmd.Write([]byte("x\r\n"))
	cmd.Close()
	if _, err := cmd.Wait(); imapCode(err) != goimap.ResponseCodeTryCreate {
		t.Fatalf("APPEND to missing: %v", err)
	}
}

func fetchFlags(t *testing.T, c *imapclient.Client, seq uint32) []goimap.Flag {
	t.Helper()
	msgs, err := c.Fetch(goimap.SeqSetNum(seq), &goimap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH FLAGS %d: %v", seq, err)
	}
	return msgs[0].Flags
}

func TestQuota(t *testing.T) {
	ts := newTestServer(t)
	if err := ts.st.SetQuota(testUser, 400); err != nil {
		t.Fatal(err)
	}
	c := ts.client(t, nil)
	appendMsg(t, c, "INBOX", testMessage(1, "fits"), nil)
	big := append(testMessage(2, "too big"), []byte(strings.Repeat("x", 300))...)
	cmd := c.Append("INBOX", int64(len(big)), nil)
	cmd.Write(big)
	cmd.Close()
	if _, err := cmd.Wait(); imapCode(err) != goimap.ResponseCodeOverQuota {
		t.Fatalf("APPEND over quota: %v", err)
	}
	c.Select("INBOX", nil).Wait()
	if _, err := c.Copy(goimap.SeqSetNum(1), "Archive").Wait(); err != nil {
		t.Fatalf("COPY within quota: %v", err)
	}
	if _, err := c.Copy(goimap.SeqSetNum(1), "Archive").Wait(); imapCode(err) != goimap.ResponseCodeOverQuota {
		t.Fatalf("COPY over quota: %v", err)
	}
	_ = io.EOF
}

// TestRawResponses checks answers the go-imap client hides: LSUB,
// NAMESPACE, ENABLE, the capabilities before and after login, and
// RENAME INBOX.
func TestRawResponses(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.tls, ts.clientTLS)
	r.send("c CAPABILITY\r\n")
	pre := strings.Join(r.until("c"), "\n")
	if !strings.Contains(pre, "AUTH=PLAIN") || strings.Contains(pre, "LOGINDISABLED") || strings.Contains(pre, "IDLE") {
		t.Fatalf("capabilities before login: %s", pre)
	}
	r.login()
	r.send("c CAPABILITY\r\n")
	post := strings.Join(r.until("c"), "\n")
	for _, want := range []string{"IMAP4rev2", "IDLE", "MOVE", "SPECIAL-USE", "APPENDLIMIT=1048576", "UIDPLUS", "ESEARCH"} {
		if !strings.Contains(post, want) {
			t.Errorf("capability %s missing after login: %s", want, post)
		}
	}
	if strings.Contains(post, "AUTH=") || strings.Contains(post, "STARTTLS") {
		t.Errorf("login capabilities after login: %s", post)
	}
	r.send("n NAMESPACE\r\n")
	if l := strings.Join(r.until("n"), "\n"); !strings.Contains(l, `* NAMESPACE (("" "/")) NIL NIL`) {
		t.Errorf("NAMESPACE: %s", l)
	}
	r.send("u UNSUBSCRIBE Junk\r\nl LSUB \"\" \"*\"\r\n")
	r.until("u")
	lsub := strings.Join(r.until("l"), "\n")
	if !strings.Contains(lsub, `* LSUB`) || !strings.Contains(lsub, "Sent") || strings.Contains(lsub, "Junk") {
		t.Errorf("LSUB: %s", lsub)
	}
	r.send("d LIST \"\" \"\"\r\n")
	if l := strings.Join(r.until("d"), "\n"); !strings.Contains(l, `* LIST (\Noselect) "/" ""`) {
		t.Errorf("LIST delimiter: %s", l)
	}
	r.send("e ENABLE IMAP4rev2\r\n")
	if l := strings.Join(r.until("e"), "\n"); !strings.Contains(l, "* ENABLED IMAP4rev2") {
		t.Errorf("ENABLE: %s", l)
	}
	r.send("a APPEND INBOX {6}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND: %q", l)
	}
	r.send("hi\r\n\r\n\r\n")
	r.until("a")
	r.send("x RENAME INBOX Saved\r\n")
	if l := r.until("x"); !strings.HasPrefix(l[len(l)-1], "x OK") {
		t.Fatalf("RENAME INBOX: %q", l)
	}
	r.send("s STATUS Saved (MESSAGES)\r\nt STATUS INBOX (MESSAGES UIDNEXT)\r\n")
	if l := strings.Join(r.until("s"), "\n"); !strings.Contains(l, "MESSAGES 1") {
		t.Errorf("STATUS Saved: %s", l)
	}
	if l := strings.Join(r.until("t"), "\n"); !strings.Contains(l, "MESSAGES 0") || !strings.Contains(l, "UIDNEXT 2") {
		t.Errorf("STATUS INBOX: %s", l)
	}
	r.send("z LOGOUT\r\n")
	if l := strings.Join(r.until("z"), "\n"); !strings.Contains(l, "* BYE") {
		t.Errorf("LOGOUT: %s", l)
	}
}

// TestFetchSectionsRaw checks FETCH items as they appear on the wire.
func TestFetchSectionsRaw(t *testing.T) {
	ts := newTestServer(t)
	msg := "From: a@b.test\r\nTo: c@d.test\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=B\r\n\r\n" +
		"--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe plain\r\n" +
		"--B\r\nContent-Type: text/html\r\n\r\n<p>html part</p>\r\n--B--\r\n"
	if _, err := ts.st.Append(testUser, "INBOX", []byte(msg), []string{"$Label1"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, ts.tls, ts.clientTLS)
	r.login()
	r.send("s SELECT INBOX\r\n")
	r.until("s")
	check := func(tag, cmd string, wants ...string) {
		t.Helper()
		r.send(tag + " " + cmd + "\r\n")
		var got []string
		for {
			l, err := r.br.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: connection ended: %q", cmd, got)
			}
			l = strings.TrimRight(l, "\r\n")
			got = append(got, l)
			if strings.HasPrefix(l, tag+" ") {
				break
			}
		}
		all := strings.Join(got, "\n")
		if !strings.HasPrefix(got[len(got)-1], tag+" OK") {
			t.Fatalf("%s: %s", cmd, all)
		}
		for _, w := range wants {
			if !strings.Contains(all, w) {
				t.Errorf("%s: want %q in\n%s", cmd, w, all)
			}
		}
	}
	check("a", "FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (From To MIME-Version Content-Type)])", "Subject: parts")
	check("b", "FETCH 1 (BODY.PEEK[1.MIME])", "Content-Transfer-Encoding: quoted-printable")
	check("c", "FETCH 1 (BODY.PEEK[2])", "<p>html part</p>")
	check("d", "FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])", "Grüße plain", "BINARY.SIZE[1] 13")
	check("e", "FETCH 1 (RFC822.HEADER RFC822.SIZE)", "RFC822.HEADER {", fmt.Sprintf("RFC822.SIZE %d", len(msg)))
	check("f", "FETCH 1 (BODYSTRUCTURE)", `("text" "html"`, `"alternative"`)
	check("g", "UID SEARCH KEYWORD $Label1 UNDELETED UNANSWERED UNFLAGGED UNDRAFT", "* SEARCH 1")
	check("h", "SEARCH UNKEYWORD $Label1", "* SEARCH\nh OK")
	check("i", "SEARCH CHARSET UTF-8 TEXT \"GRÜßE\"", "* SEARCH 1")
	check("i2", "SEARCH CHARSET UTF-8 TEXT \"grüße\"", "* SEARCH 1")
	check("j", "SEARCH BODY \"html part\"", "* SEARCH 1")
	check("k", "SEARCH RETURN (COUNT) ALL", "COUNT 1")
	check("l", "FETCH 1 FAST", "FLAGS (", "INTERNALDATE", "RFC822.SIZE")
	check("m", "FETCH 1 (BODY[TEXT]<0.6>)", "<0> {6}", "\\Seen")
}

// TestMailboxNameEncoding: modified UTF-7 for IMAP4rev1 clients, UTF-8
// once a client enables IMAP4rev2.
func TestMailboxNameEncoding(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.tls, ts.clientTLS)
	r.login()
	r.send("c CREATE \"K&AOQ-se\"\r\n") // "Käse" in modified UTF-7
	if l := r.until("c"); !strings.HasPrefix(l[len(l)-1], "c OK") {
		t.Fatalf("CREATE: %q", l)
	}
	if _, err := ts.st.GetMailbox(testUser, "Käse"); err != nil {
		t.Fatalf("stored name: %v", err)
	}
	r.send("l LIST \"\" \"K*\"\r\n")
	if l := strings.Join(r.until("l"), "\n"); !strings.Contains(l, `"K&AOQ-se"`) {
		t.Fatalf("IMAP4rev1 LIST: %s", l)
	}
	r.send("e ENABLE IMAP4rev2\r\nm LIST \"\" \"K*\"\r\n")
	r.until("e")
	if l := strings.Join(r.until("m"), "\n"); !strings.Contains(l, `"Käse"`) {
		t.Fatalf("IMAP4rev2 LIST: %s", l)
	}
}

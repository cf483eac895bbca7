package imap

import (
	"sort"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/authsmtp/authsmtp/imap/goimapfix"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/mailparse"
)

// Fetch answers FETCH and UID FETCH. Records and cached parses come from
// the store in chunks (no transaction is open while we write); bodies are
// read only when a body section is asked for.
func (s *session) Fetch(w *imapserver.FetchWriter, numSet goimap.NumSet, options *goimap.FetchOptions) error {
	sel := s.sel
	idx := sel.resolve(numSet)
	if len(idx) == 0 {
		return nil
	}
	ww := s.newWireWriter(options)
	defer s.batch()()
	uids := sel.uidsOf(idx)
	withBody := len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0
	markSeen := false
	if !sel.readOnly {
		for _, b := range options.BodySection {
			markSeen = markSeen || !b.Peek
		}
		for _, b := range options.BinarySection {
			markSeen = markSeen || !b.Peek
		}
	}
	if markSeen {
		// RFC 3501 §6.4.5: fetching a body section sets \Seen.
		msgs, err := s.st.SetFlags(s.user, sel.name, uids, store.FlagsAdd, []string{`\Seen`})
		if err != nil {
			return s.fail("FETCH", err, false)
		}
		s.noteModSeqs(msgs)
	}
	wantMeta := options.Envelope || options.BodyStructure != nil
	fresh := map[uint64][]byte{} // parses made now, cached afterwards
	var zones zoneCache
	j := 0
	err := s.st.FetchMessages(s.user, sel.name, uids, withBody, func(it *store.FetchItem) error {
		m := it.Message
		for j < len(idx) && sel.uids[idx[j]] != m.UID {
			j++
		}
		if j == len(idx) {
			return nil
		}
		seq := uint32(idx[j] + 1)
		if ww != nil {
			var env *goimap.Envelope
			if options.Envelope {
				var ok bool
				if env, ok = ww.envelope(it.Meta, &zones); !ok {
					env = s.metaOf(it, false, fresh, &zones).Envelope
				}
			}
			if ww.message(seq, m, options, env) {
				if len(ww.buf) < wireChunk {
					return nil
				}
				return ww.flush()
			}
			if err := ww.flush(); err != nil { // go-imap's answer comes after ours
				return err
			}
		}
		var md *meta
		if wantMeta {
			md = s.metaOf(it, options.BodyStructure != nil, fresh, &zones)
		}
		r := w.CreateMessage(seq)
		r.WriteUID(goimap.UID(m.UID))
		if options.Flags || markSeen {
			r.WriteFlags(toFlags(m.Flags))
		}
		if options.InternalDate {
			r.WriteInternalDate(m.Date)
		}
		if options.RFC822Size {
			r.WriteRFC822Size(m.Size)
		}
		if options.Envelope {
			r.WriteEnvelope(md.Envelope)
		}
		if options.BodyStructure != nil {
			r.WriteBodyStructure(md.Structure)
		}
		var parsed *mailparse.Message // parsed once, for the sections that need it
		parse := func() *mailparse.Message {
			if parsed == nil {
				parsed = mailparse.Parse(it.Body, mailparse.Limits{})
			}
			return parsed
		}
		for _, sec := range options.BodySection {
			b := sectionBytes(it.Body, parse, sec)
			if err := writeLiteral(r.WriteBodySection(sec, int64(len(b))), b); err != nil {
				return err
			}
		}
		for _, sec := range options.BinarySection {
			b := binarySection(parse(), sec)
			if err := writeLiteral(r.WriteBinarySection(sec, int64(len(b))), b); err != nil {
				return err
			}
		}
		for _, sec := range options.BinarySectionSize {
			r.WriteBinarySectionSize(sec, uint32(len(binarySection(parse(), &goimap.FetchItemBinarySection{Part: sec.Part}))))
		}
		return r.Close()
	})
	if ww != nil && err == nil {
		err = ww.flush()
	}
	if len(fresh) > 0 {
		if err := s.st.SetBodyMeta(fresh); err != nil {
			s.log.Warn("imap: caching message parses", "err", err)
		}
	}
	if err != nil {
		return s.fail("FETCH", err, false)
	}
	return nil
}

// metaOf decodes a message's cached parse, or parses the body now (mail
// delivered by SMTP has none yet) and remembers it for caching.
func (s *session) metaOf(it *store.FetchItem, withStructure bool, fresh map[uint64][]byte, zones *zoneCache) *meta {
	if it.Meta != nil {
		if md, err := decodeMetaZones(it.Meta, withStructure, zones); err == nil {
			return md
		}
	}
	body := it.Body
	if body == nil {
		_, b, err := s.st.GetMessage(s.user, s.sel.name, it.Message.UID)
		if err != nil {
			return &meta{Envelope: &goimap.Envelope{}, Structure: &goimap.BodyStructureSinglePart{Type: "text", Subtype: "plain"}}
		}
		body = b
	}
	md := parseMeta(body)
	fresh[it.Message.BodyID] = encodeMeta(md)
	return md
}

func writeLiteral(wc interface {
	Write([]byte) (int, error)
	Close() error
}, b []byte) error {
	_, werr := wc.Write(b)
	cerr := wc.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

func partial(b []byte, p *goimap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset >= int64(len(b)) {
		return nil
	}
	end := p.Offset + p.Size
	if end > int64(len(b)) || p.Size < 0 {
		end = int64(len(b))
	}
	return b[p.Offset:end]
}

// noteModSeqs records our own flag changes in the view, so their events
// are not reported back to us as changes made elsewhere.
func (s *session) noteModSeqs(msgs []store.Message) {
	for _, m := range msgs {
		if i := s.sel.index(m.UID); i >= 0 && m.ModSeq > s.sel.modseqs[i] {
			s.sel.modseqs[i] = m.ModSeq
		}
	}
}

var errReadOnly = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeCannot, Text: "the mailbox is open read-only (EXAMINE)"}

// Store answers STORE and UID STORE.
func (s *session) Store(w *imapserver.FetchWriter, numSet goimap.NumSet, flags *goimap.StoreFlags, options *goimap.StoreOptions) error {
	sel := s.sel
	if sel.readOnly {
		return errReadOnly
	}
	idx := sel.resolve(numSet)
	if len(idx) == 0 {
		return nil
	}
	op := map[goimap.StoreFlagsOp]store.FlagOp{goimap.StoreFlagsAdd: store.FlagsAdd, goimap.StoreFlagsDel: store.FlagsRemove, goimap.StoreFlagsSet: store.FlagsReplace}[flags.Op]
	var fl []string
	for _, f := range flags.Flags {
		fl = append(fl, string(f))
	}
	msgs, err := s.st.SetFlags(s.user, sel.name, sel.uidsOf(idx), op, fl)
	if err != nil {
		return s.fail("STORE", err, false)
	}
	s.noteModSeqs(msgs)
	if flags.Silent {
		return nil
	}
	if len(msgs) > 1 {
		defer s.batch()()
	}
	for _, m := range msgs {
		i := sel.index(m.UID)
		if i < 0 {
			continue
		}
		r := w.CreateMessage(uint32(i + 1))
		r.WriteUID(goimap.UID(m.UID))
		r.WriteFlags(toFlags(m.Flags))
		if err := r.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Copy answers COPY and UID COPY (with COPYUID, RFC 4315).
func (s *session) Copy(numSet goimap.NumSet, dest string) (*goimap.CopyData, error) {
	sel := s.sel
	idx := sel.resolve(numSet)
	if len(idx) == 0 {
		return nil, nil
	}
	res, err := s.st.Copy(s.user, sel.name, sel.uidsOf(idx), dest)
	if err != nil {
		return nil, s.fail("COPY", err, true)
	}
	return copyData(res), nil
}

func copyData(res *store.CopyResult) *goimap.CopyData {
	if len(res.SourceUIDs) == 0 {
		return nil
	}
	d := &goimap.CopyData{UIDValidity: res.UIDValidity}
	for i := range res.SourceUIDs {
		d.SourceUIDs.AddNum(goimap.UID(res.SourceUIDs[i]))
		d.DestUIDs.AddNum(goimap.UID(res.DestUIDs[i]))
	}
	return d
}

// Move answers MOVE and UID MOVE (RFC 6851): copy and expunge in one commit.
func (s *session) Move(w *imapserver.MoveWriter, numSet goimap.NumSet, dest string) error {
	sel := s.sel
	if sel.readOnly {
		return errReadOnly
	}
	idx := sel.resolve(numSet)
	if len(idx) == 0 {
		return nil
	}
	res, err := s.st.Move(s.user, sel.name, sel.uidsOf(idx), dest)
	if err != nil {
		return s.fail("MOVE", err, true)
	}
	if d := copyData(res); d != nil {
		if err := w.WriteCopyData(d); err != nil {
			return err
		}
	}
	return s.expunged(res.SourceUIDs, w.WriteExpunge)
}

// expunged removes UIDs from the view and announces them, highest
// sequence number first, so every number is valid when it is sent.
func (s *session) expunged(uids []uint32, write func(uint32) error) error {
	sel := s.sel
	var idx []int
	for _, u := range uids {
		if i := sel.index(u); i >= 0 {
			idx = append(idx, i)
		}
	}
	sortDesc(idx)
	for _, i := range idx {
		sel.remove(i)
		if err := write(uint32(i + 1)); err != nil {
			return err
		}
	}
	return nil
}

func sortDesc(a []int) { sort.Sort(sort.Reverse(sort.IntSlice(a))) }

// Expunge answers EXPUNGE, UID EXPUNGE and the expunge of CLOSE. Only
// messages this session has seen are candidates. A read-only session
// expunges nothing: EXPUNGE gets NO, CLOSE just closes.
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *goimap.UIDSet) error {
	sel := s.sel
	if sel.readOnly {
		if goimapfix.IsCloseExpunge(w) {
			return nil // CLOSE of an EXAMINEd mailbox expunges nothing
		}
		return errReadOnly
	}
	within := sel.uids
	if uids != nil {
		within = sel.uidsOf(sel.resolve(*uids))
	}
	if len(within) == 0 {
		return nil
	}
	gone, err := s.st.ExpungeDeleted(s.user, sel.name, append([]uint32(nil), within...))
	if err != nil {
		return s.fail("EXPUNGE", err, false)
	}
	return s.expunged(gone, w.WriteExpunge)
}

// batch gathers the answers of one command into large writes; the
// returned func ends it, and what was gathered goes out with the tagged
// answer go-imap writes next (one write for a one-message FETCH).
func (s *session) batch() func() {
	if s.hc == nil {
		return func() {}
	}
	s.hc.Batch(true)
	return s.hc.EndBatch
}

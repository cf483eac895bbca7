package imap

import (
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/authsmtp/authsmtp/imap/goimapfix"
	"github.com/authsmtp/authsmtp/store"
)

// A FETCH of UID, FLAGS, INTERNALDATE, RFC822.SIZE and ENVELOPE (what a
// client asks for every message when it opens a mailbox) is written by
// goimapfix.Wire into one buffer and sent in large chunks, the envelope
// decoded from the cached parse into reused memory; go-imap's writer
// costs allocations and a flush per message. Anything else (body
// sections, BODYSTRUCTURE, a flag go-imap would refuse) goes through
// go-imap as before. The bytes are the same either way.

// wireChunk is how much of the answer is gathered before it is sent.
const wireChunk = 64 << 10

// wireWriteTimeout is go-imap's own limit on writing one answer.
const wireWriteTimeout = 30 * time.Second

// wireWriter writes the answers of one FETCH command.
type wireWriter struct {
	hc    *goimapfix.Conn
	w     goimapfix.Wire
	buf   []byte
	env   goimap.Envelope  // decoded envelope, reused
	addrs []goimap.Address // its address lists, reused
}

// newWireWriter returns a writer for a FETCH of these items, or nil when
// go-imap must write them (or the connection is not ours).
func (s *session) newWireWriter(o *goimap.FetchOptions) *wireWriter {
	if len(o.BodySection) > 0 || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0 || o.BodyStructure != nil || o.ModSeq {
		return nil
	}
	if s.hc == nil || s.srv.goimapFetch {
		return nil
	}
	caps := s.conn.EnabledCaps()
	return &wireWriter{hc: s.hc, w: goimapfix.Wire{QuotedUTF8: caps.Has(goimap.CapIMAP4rev2) || caps.Has(goimap.CapUTF8Accept)}}
}

// envelope decodes a cached parse's envelope into the writer's reused
// memory; false if the parse is missing or unreadable.
func (ww *wireWriter) envelope(metaBytes []byte, zones *zoneCache) (*goimap.Envelope, bool) {
	_, _, _, rest, ok := peekMeta(metaBytes)
	if !ok {
		return nil, false
	}
	r := &metaReader{p: rest, s: string(rest), zones: zones}
	ww.addrs = ww.addrs[:0]
	readEnvelopeInto(r, &ww.env, &ww.addrs)
	if r.p == nil {
		return nil, false
	}
	return &ww.env, true
}

// message adds the answer for one message in the order Fetch writes the
// items through go-imap. It returns false, having added nothing, when
// go-imap must write this one.
func (ww *wireWriter) message(seq uint32, m *store.Message, o *goimap.FetchOptions, env *goimap.Envelope) bool {
	at := len(ww.buf)
	b := goimapfix.AppendFetchStart(ww.buf, seq)
	b = goimapfix.AppendUID(b, m.UID)
	if o.Flags {
		var ok bool
		if b, ok = goimapfix.AppendFlags(append(b, ' '), m.Flags); !ok {
			ww.buf = b[:at]
			return false
		}
	}
	if o.InternalDate {
		b = ww.w.AppendInternalDate(append(b, ' '), m.Date)
	}
	if o.RFC822Size {
		b = goimapfix.AppendRFC822Size(append(b, ' '), m.Size)
	}
	if o.Envelope {
		b = ww.w.AppendEnvelope(append(b, ' '), env)
	}
	ww.buf = goimapfix.AppendFetchEnd(b)
	return true
}

// flush hands what was gathered to the connection (batching: it sends
// 64 KiB at a time), within go-imap's time limit for a write.
func (ww *wireWriter) flush() error {
	if len(ww.buf) == 0 {
		return nil
	}
	ww.hc.SetWriteDeadline(time.Now().Add(wireWriteTimeout))
	_, err := ww.hc.Write(ww.buf)
	ww.hc.SetWriteDeadline(time.Time{})
	ww.buf = ww.buf[:0]
	return err
}

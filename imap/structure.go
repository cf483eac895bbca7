package imap

import (
	"bytes"
	"io"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message"

	"github.com/authsmtp/authsmtp/store/mailparse"
)

// The ENVELOPE, BODYSTRUCTURE and body sections of a message all come
// from one bounded parse (store/mailparse); go-imap's own extractors copy
// the rest of the message at every nesting level and have no bounds.

// envelopeOf builds an IMAP envelope from a header, through go-message's
// decoders on values already cut to the parse limits.
func envelopeOf(h *mailparse.Header) *goimap.Envelope {
	return imapserver.ExtractEnvelope(h.Textproto(mailparse.Limits{}, mailparse.EnvelopeFields...))
}

// bodyStructureOf builds the BODYSTRUCTURE of a parsed message. Every
// part carries its extension data and every multipart at least one
// child: go-imap panics writing BODYSTRUCTURE otherwise.
func bodyStructureOf(m *mailparse.Message) goimap.BodyStructure {
	return partStructure(m, m.Root)
}

// partFields are the fields BODYSTRUCTURE reads beside Content-Type.
var partFields = []string{"Content-Id", "Content-Description", "Content-Disposition", "Content-Language", "Content-Location"}

func partStructure(m *mailparse.Message, p *mailparse.Part) goimap.BodyStructure {
	mh := message.Header{Header: p.Header.Textproto(m.Limits(), partFields...)}
	if p.IsMultipart() {
		bs := &goimap.BodyStructureMultiPart{Subtype: p.Subtype}
		for _, c := range p.Parts {
			bs.Children = append(bs.Children, partStructure(m, c))
		}
		bs.Extended = &goimap.BodyStructureMultiPartExt{
			Params:      p.Params,
			Disposition: dispositionOf(mh),
			Language:    languageOf(mh),
			Location:    mh.Get("Content-Location"),
		}
		return bs
	}
	bs := &goimap.BodyStructureSinglePart{
		Type:        p.Type,
		Subtype:     p.Subtype,
		Params:      p.Params,
		ID:          mh.Get("Content-Id"),
		Description: mh.Get("Content-Description"),
		Encoding:    p.Encoding(),
		Size:        uint32(p.End - p.BodyStart),
	}
	switch {
	case p.Opaque && (p.Type == "multipart" || p.Type == "message"):
		// Not parsed (a limit, or no boundary): shown as an opaque leaf,
		// since a message/rfc822 part must carry its envelope and body.
		bs.Type, bs.Subtype, bs.Params = "application", "octet-stream", nil
		if bs.Description == "" {
			bs.Description = p.MediaType() + " part not parsed: malformed or over the parse limits"
		}
	case p.Message != nil:
		bs.MessageRFC822 = &goimap.BodyStructureMessageRFC822{
			Envelope:      envelopeOf(&p.Message.Header),
			BodyStructure: partStructure(m, p.Message),
			NumLines:      m.Lines(p),
		}
	case p.Type == "text":
		bs.Text = &goimap.BodyStructureText{NumLines: m.Lines(p)}
	}
	bs.Extended = &goimap.BodyStructureSinglePartExt{
		Disposition: dispositionOf(mh),
		Language:    languageOf(mh),
		Location:    mh.Get("Content-Location"),
	}
	return bs
}

func dispositionOf(h message.Header) *goimap.BodyStructureDisposition {
	disp, params, _ := h.ContentDisposition()
	if disp == "" {
		return nil
	}
	return &goimap.BodyStructureDisposition{Value: disp, Params: params}
}

func languageOf(h message.Header) []string {
	v := h.Get("Content-Language")
	if v == "" {
		return nil
	}
	l := strings.Split(v, ",")
	for i := range l {
		l[i] = strings.TrimSpace(l[i])
	}
	return l
}

// writable repairs a structure so go-imap can write it: extension data on
// every part, at least one child per multipart, a body in every
// message/rfc822. Cached parses made before this rule are fixed on read.
func writable(bs goimap.BodyStructure) goimap.BodyStructure {
	switch x := bs.(type) {
	case *goimap.BodyStructureSinglePart:
		if x.Extended == nil {
			x.Extended = &goimap.BodyStructureSinglePartExt{}
		}
		if x.MessageRFC822 != nil {
			if x.MessageRFC822.BodyStructure == nil {
				x.MessageRFC822.BodyStructure = &goimap.BodyStructureSinglePart{Type: "text", Subtype: "plain"}
			}
			x.MessageRFC822.BodyStructure = writable(x.MessageRFC822.BodyStructure)
		}
		return x
	case *goimap.BodyStructureMultiPart:
		if x.Extended == nil {
			x.Extended = &goimap.BodyStructureMultiPartExt{}
		}
		if len(x.Children) == 0 {
			x.Children = []goimap.BodyStructure{&goimap.BodyStructureSinglePart{Type: "text", Subtype: "plain"}}
		}
		for i := range x.Children {
			x.Children[i] = writable(x.Children[i])
		}
		return x
	}
	return writable(&goimap.BodyStructureSinglePart{Type: "text", Subtype: "plain"})
}

// findSection finds the part a section path names, as RFC 3501 §6.4.5
// numbers them: part 1 of a message that is not multipart is its body,
// and the parts of a message/rfc822 part are those of the message in it.
// Only the parsed tree is reachable; nil if the path names no part.
func findSection(m *mailparse.Message, path []int) *mailparse.Part {
	p := m.Root
	if !p.IsMultipart() && len(path) > 0 && path[0] == 1 {
		path = path[1:]
	}
	for _, n := range path {
		if p.Message != nil {
			p = p.Message
		}
		if !p.IsMultipart() {
			if n != 1 {
				return nil
			}
			continue
		}
		if n < 1 || n > len(p.Parts) {
			return nil
		}
		p = p.Parts[n-1]
	}
	return p
}

// sectionBytes answers BODY[section]: the whole message, its header and
// its text are slices of the stored bytes (so their sizes add up to
// RFC822.SIZE); a part is found in the bounded parse.
func sectionBytes(body []byte, m func() *mailparse.Message, sec *goimap.FetchItemBodySection) []byte {
	if len(sec.Part) == 0 && len(sec.HeaderFields) == 0 && len(sec.HeaderFieldsNot) == 0 {
		hl := headerLen(body)
		switch sec.Specifier {
		case goimap.PartSpecifierNone:
			return partial(body, sec.Partial)
		case goimap.PartSpecifierHeader:
			return partial(body[:hl], sec.Partial)
		case goimap.PartSpecifierText:
			return partial(body[hl:], sec.Partial)
		}
	}
	msg := m()
	p := findSection(msg, sec.Part)
	if p == nil {
		return nil
	}
	if len(sec.Part) > 0 && p.Message != nil {
		switch sec.Specifier {
		case goimap.PartSpecifierHeader, goimap.PartSpecifierText:
			p = p.Message // HEADER and TEXT of a message part: of the message in it
		}
	}
	var out []byte
	switch sec.Specifier {
	case goimap.PartSpecifierNone:
		if len(sec.Part) == 0 {
			out = msg.Bytes(p)
		} else {
			out = msg.Body(p)
		}
	case goimap.PartSpecifierText:
		out = msg.Body(p)
	case goimap.PartSpecifierMIME:
		out = msg.HeaderBytes(p)
	case goimap.PartSpecifierHeader:
		out = filterHeader(msg, p, sec.HeaderFields, sec.HeaderFieldsNot)
	}
	return partial(out, sec.Partial)
}

// filterHeader returns the header fields kept by HEADER.FIELDS (keep) or
// HEADER.FIELDS.NOT (drop), as written, and the empty line.
func filterHeader(m *mailparse.Message, p *mailparse.Part, keep, drop []string) []byte {
	if len(keep) == 0 && len(drop) == 0 {
		return m.HeaderBytes(p)
	}
	in := func(l []string, name string) bool {
		for _, k := range l {
			if strings.EqualFold(k, name) {
				return true
			}
		}
		return false
	}
	var out bytes.Buffer
	for _, f := range p.Header.Fields {
		if (len(keep) > 0 && !in(keep, f.Name)) || in(drop, f.Name) {
			continue
		}
		out.Write(f.Raw)
		if !bytes.HasSuffix(f.Raw, []byte("\n")) {
			out.WriteString("\r\n")
		}
	}
	out.WriteString("\r\n")
	return out.Bytes()
}

// binarySection answers BINARY[section] (RFC 3516): the part with its
// transfer encoding undone; for the whole message, its header first.
func binarySection(m *mailparse.Message, sec *goimap.FetchItemBinarySection) []byte {
	p := findSection(m, sec.Part)
	if p == nil {
		return nil
	}
	var out bytes.Buffer
	if len(sec.Part) == 0 {
		out.Write(m.HeaderBytes(p))
	}
	io.Copy(&out, m.Decoded(p))
	return partial(out.Bytes(), sec.Partial)
}

// Package dkim signs outbound mail with the keys the store keeps for each
// hosted domain (an ed25519 and an RSA key per domain, see store/dkim.go),
// using go-msgauth. main gives a *Signer to the submission pipeline and the MX
// (smtpd.Signer).
package dkim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/authsmtp/authsmtp/store"
)

// signedHeaders are the fields signed (RFC 6376 §5.4.1), From first.
// Fields absent from a message are signed as absent, so nobody can add
// them later.
var signedHeaders = []string{"From", "Reply-To", "Subject", "Date", "To", "Cc",
	"Message-ID", "In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Sender", "List-Unsubscribe"}

// Signer adds DKIM-Signature fields for the From: domain of a message.
type Signer struct {
	st Keys
}

// New returns a signer reading keys from st.
func New(st Keys) *Signer { return &Signer{st: st} }

// Keys is what signing needs of the store: whether a domain is hosted
// here, and its DKIM keys.
type Keys interface {
	IsHosted(domain string) bool
	DKIMKeys(domain string) (store.DKIMKeySet, error)
}

// FromDomain returns the domain of the single From: address of msg.
func FromDomain(msg []byte) (string, error) {
	hdr, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(msg))).ReadMIMEHeader()
	if err != nil && len(hdr) == 0 {
		return "", fmt.Errorf("reading header: %w", err)
	}
	froms := hdr.Values("From")
	if len(froms) != 1 {
		return "", errors.New("the message needs exactly one From: field")
	}
	list, err := (&mail.AddressParser{}).ParseList(froms[0])
	if err != nil || len(list) != 1 {
		return "", fmt.Errorf("parsing From: %q", froms[0])
	}
	return store.DomainOf(list[0].Address), nil
}

// Sign returns msg with its signature fields (SignatureFields) on top.
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	sigs, err := s.SignatureFields(msg)
	if err != nil || len(sigs) == 0 {
		return msg, err
	}
	return append(sigs, msg...), nil
}

// SignatureFields returns one DKIM-Signature field per active key of the
// From: domain of msg, to be put on top of it. A message whose From:
// domain is not hosted, or has no keys, gets none: signing is for our own
// domains only.
func (s *Signer) SignatureFields(msg []byte) ([]byte, error) {
	domain, err := FromDomain(msg)
	if err != nil || domain == "" || !s.st.IsHosted(domain) {
		return nil, nil
	}
	set, err := s.st.DKIMKeys(domain)
	if err != nil {
		return nil, fmt.Errorf("reading DKIM keys of %s: %w", domain, err)
	}
	var sigs []string
	for _, k := range set.Keys {
		if !k.Active {
			continue
		}
		key, err := k.Signer()
		if err != nil {
			return nil, err
		}
		ds, err := msgdkim.NewSigner(&msgdkim.SignOptions{
			Domain: domain, Selector: k.Selector, Signer: key,
			HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
			BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
			HeaderKeys:             signedHeaders,
		})
		if err != nil {
			return nil, fmt.Errorf("DKIM signing as %s: %w", domain, err)
		}
		if _, err := ds.Write(msg); err != nil {
			ds.Close()
			return nil, fmt.Errorf("DKIM signing as %s: %w", domain, err)
		}
		if err := ds.Close(); err != nil {
			return nil, fmt.Errorf("DKIM signing as %s: %w", domain, err)
		}
		sigs = append(sigs, ds.Signature())
	}
	var out []byte
	for _, sig := range sigs {
		out = append(out, sig...)
	}
	return out, nil
}

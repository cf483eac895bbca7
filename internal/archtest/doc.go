// Package archtest holds the test that keeps the architecture in the
// folder list true: which way the imports between authsmtp's packages may
// point (see the README's "Where things are"). It has no code of its own.
package archtest

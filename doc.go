// Package diracrpc holds what every part of the toolkit shares: the Caller
// interface, the Result of a call, the Error a DIRAC service returns (S_ERROR)
// and the sentinel errors callers branch on.
//
// The protocols live in subpackages: disetclient (dips://, dip://),
// httpsclient (https://), and selector, which picks the right one for an
// endpoint. Values follow the model of package value.
package diracrpc

package token

import "context"

// LookupObserver is told the result of every deny-list lookup, for
// metrics; *metrics.Metrics implements it.
type LookupObserver interface {
	// DenyListLookup records one lookup: whether the token was denied, or
	// the error that left the answer unknown.
	DenyListLookup(denied bool, err error)
}

// ObservedDenyList is a DenyList that reports each lookup to an observer.
type ObservedDenyList struct {
	DenyList
	observer LookupObserver
}

// Observe wraps d so that each Denied call is reported to o.
func Observe(d DenyList, o LookupObserver) *ObservedDenyList {
	return &ObservedDenyList{DenyList: d, observer: o}
}

// Denied implements DenyList, reporting the result.
func (o *ObservedDenyList) Denied(ctx context.Context, c *Claims) (bool, error) {
	denied, err := o.DenyList.Denied(ctx, c)
	o.observer.DenyListLookup(denied, err)
	return denied, err
}

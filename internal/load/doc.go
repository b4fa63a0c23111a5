// Package load is the flood client: many concurrent connections requesting
// large responses, in a closed or open model, reading bodies through a fixed
// buffer (paced, aborted or validated while streaming) and never holding one
// whole. It only talks to loopback unless told otherwise; it never starts
// or measures a server.
package load

// Package report renders results for people: tables, plots and an HTML
// page. It reads results.json and the files it names, nothing else, and
// never measures anything.
package report

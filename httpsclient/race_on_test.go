//go:build race

package httpsclient_test

const raceEnabled = true

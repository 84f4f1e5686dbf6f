// Package layout holds no code: its test keeps the architecture honest by
// failing when a package imports what it must not.
package layout

package probe

// Protocols is what the engine knows, in the order it tries banner
// matchers and lists probes. One entry per line: add yours at the end of
// its group.
func Protocols() []Protocol {
	return []Protocol{
		sshProtocol(),
		smtpProtocol(),
		ftpProtocol(),
		imapProtocol(),
		pop3Protocol(),
		telnetProtocol(),
		httpProtocol(),
	}
}

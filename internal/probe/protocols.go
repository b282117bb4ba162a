package probe

// Protocols is what the engine knows, in the order it tries banner
// matchers and lists probes. One entry per line: add yours at the end of
// its group.
func Protocols() []Protocol {
	return append([]Protocol{
		// Text protocols and HTTP.
		sshProtocol(),
		smtpProtocol(),
		ftpProtocol(),
		imapProtocol(),
		pop3Protocol(),
		telnetProtocol(),
		httpProtocol(),
		// Binary protocols, TCP.
		redisProtocol(),
		memcachedProtocol(),
		postgresqlProtocol(),
		serverFirst(mysqlProtocol()),
		mongodbProtocol(),
		mqttProtocol(),
		amqpProtocol(),
		ldapProtocol(),
		serverFirst(vncProtocol()),
		rdpProtocol(),
		mumbleControlProtocol(),
		dnsTCPProtocol(),
		smuxProtocol(),
		stunTCPProtocol(),
		openvpnTCPProtocol(),
		// UDP.
		memcachedUDPProtocol(),
		dnsProtocol(),
		ntpProtocol(),
		snmpProtocol(),
		stunProtocol(),
		radiusProtocol(),
		tftpProtocol(),
		openvpnProtocol(),
		nbnsProtocol(),
		mumbleUDPProtocol(),
	},
		// Client-first line protocols, from the signature table.
		defaultSendProtocols()...)
}

// serverFirst marks a protocol whose server greets first, so that the
// engine does not wait for a greeting the null probe did not hear. (A
// protocol may set ServerFirst itself; this is for those that do not yet.)
func serverFirst(p Protocol) Protocol {
	p.ServerFirst = true
	return p
}

import { useId } from 'react';
import { CopyButton } from './CopyButton';
import { Dialog } from './Dialog';

/** The claude_desktop_config.json entry that reaches this server through mcp-remote (args kept on one line). */
export function desktopConfig(mcpUrl: string): string {
  const args = JSON.stringify(['-y', 'mcp-remote', mcpUrl]).replace(/,/g, ', ');
  return [
    '{',
    '  "mcpServers": {',
    '    "waxseal": {',
    '      "command": "npx",',
    `      "args": ${args}`,
    '    }',
    '  }',
    '}',
  ].join('\n');
}

export function claudeCodeCommand(mcpUrl: string): string {
  return `claude mcp add --transport http waxseal ${mcpUrl}`;
}

/** SPEC §6 How to Connect: three steps, the config snippet with a copy button, and the Claude Code command. */
export function HelpDialog({ mcpUrl, onClose }: { mcpUrl: string; onClose: () => void }) {
  const snippetId = useId();
  const commandId = useId();
  const config = desktopConfig(mcpUrl);
  const command = claudeCodeCommand(mcpUrl);
  return (
    <Dialog
      role="dialog"
      title="How to Connect"
      description={
        <p>
          Connect Claude to this server at <code>{mcpUrl}</code>. Each client that signs in becomes a
          connection with its own API key.
        </p>
      }
      onClose={onClose}
      className="dialog-help"
    >
      <h3 className="help-heading">Claude Desktop</h3>
      <ol className="steps">
        <li>
          Open Claude Desktop <strong>Settings › Developer › Edit Config</strong>.
        </li>
        <li>
          Add the MCP server URL as a remote server entry in <code>claude_desktop_config.json</code>, then
          restart Claude Desktop:
          <div className="snippet">
            <div className="snippet-bar">
              <span className="snippet-name">claude_desktop_config.json</span>
              <CopyButton text={config} label="Copy config snippet" target={snippetId} />
            </div>
            <pre id={snippetId}>
              <code>{config}</code>
            </pre>
          </div>
        </li>
        <li>Authorize in the browser when prompted: sign in to Waxseal and press Allow.</li>
      </ol>
      <h3 className="help-heading">Claude Code</h3>
      <div className="snippet">
        <div className="snippet-bar">
          <span className="snippet-name">Terminal</span>
          <CopyButton text={command} label="Copy Claude Code command" target={commandId} />
        </div>
        <pre id={commandId}>
          <code>{command}</code>
        </pre>
      </div>
      <div className="actions">
        <button type="button" className="primary" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}

// A custom MCP tool behind Waxseal's OAuth: `node --import tsx examples/custom-tool.ts`.
// Configuration comes from the environment (PORT, DATABASE_URL, …), as for `waxseal serve`.
import { z } from 'zod';
import { createWaxseal } from '../src/index.js'; // in your project: from 'waxseal'

const waxseal = createWaxseal({
  tools: (server, { caller }) => {
    server.registerTool(
      'greet',
      { description: 'Greets the signed-in user', inputSchema: { greeting: z.string().default('Hello') } },
      async ({ greeting }) => ({
        content: [
          {
            type: 'text',
            text: `${greeting}, ${caller.user.email} (${caller.user.role}) via ${caller.connection.clientName}; key ${caller.apiKeyPrefix}…`,
          },
        ],
      }),
    );
  },
});

// start() resolves with the MCP URL to give clients: PUBLIC_URL + /mcp.
console.log(`Waxseal with a custom tool at ${await waxseal.start()}`);
process.once('SIGTERM', () => void waxseal.close().then(() => process.exit(0)));

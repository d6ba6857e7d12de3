import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { toolAllowed } from '../domain/tool-allow.js';
import { audit } from '../services/audit.js';
import type { Services } from '../services/context.js';
import type { GatewayCaller } from './caller.js';
import { mayUseTool, type UpstreamDefinition } from './config.js';
import { RpcError } from './errors.js';

/** A listing that hides the same tools again is audited at most this often (per instance). */
const HIDDEN_AUDIT_EVERY_MS = 10 * 60_000;
const MAX_REMEMBERED = 10_000;

/**
 * Per-tool role restrictions (issue #7, WAXSEAL_CONFIG `tools`): a tool the
 * caller's role may not use is left out of tools/list and refused on call;
 * both show in the audit log, attributed to the user and connection.
 */
export class ToolPermissions {
  private readonly hiddenAudited = new Map<string, number>();

  constructor(private readonly s: Services) {}

  /** The tools of `upstream` this caller may see; hidden ones are audited. */
  visible<T extends { name: string }>(caller: GatewayCaller, upstream: UpstreamDefinition, items: T[]): T[] {
    const shown = items.filter((t) => mayUseTool(upstream, caller.user.role, t.name));
    const hidden = items.filter((t) => !shown.includes(t)).map((t) => t.name);
    if (hidden.length > 0) this.auditHidden(caller, upstream, hidden);
    return shown;
  }

  /**
   * SPEC §12 tools per connection, on the names the client sees (after any
   * upstream prefix): tools outside the connection's allow-list are left out.
   */
  allowedOnly<T extends { name: string }>(caller: GatewayCaller, exposed: T[]): T[] {
    const allow = caller.connection.allowedTools ?? null;
    return allow === null ? exposed : exposed.filter((t) => toolAllowed(allow, t.name));
  }

  /** Whether `check` lets the call through (nothing to record): the steady state's test, without a promise. */
  allows(caller: GatewayCaller, upstream: UpstreamDefinition, tool: string, exposed: string): boolean {
    return (
      toolAllowed(caller.connection.allowedTools ?? null, exposed) &&
      mayUseTool(upstream, caller.user.role, tool)
    );
  }

  /**
   * Refuses a call to a tool outside the connection's allow-list with the
   * error of an unknown tool (SPEC §12, as routing.ts words it), and a call to
   * a tool the caller's role may not use.
   */
  async check(
    caller: GatewayCaller,
    upstream: UpstreamDefinition,
    tool: string,
    exposed: string,
  ): Promise<void> {
    if (!toolAllowed(caller.connection.allowedTools ?? null, exposed)) {
      throw new RpcError(ErrorCode.InvalidParams, `Tool ${exposed} not found`);
    }
    if (mayUseTool(upstream, caller.user.role, tool)) return;
    await this.record(caller, 'mcp.tool_denied', { upstream: upstream.name, tool, role: caller.user.role });
    throw new RpcError(
      ErrorCode.InvalidParams,
      `Tool ${exposed} is not available to the ${caller.user.role} role`,
    );
  }

  private auditHidden(caller: GatewayCaller, upstream: UpstreamDefinition, tools: string[]): void {
    const key = `${caller.connection.id}\u0000${upstream.name}\u0000${caller.user.role}\u0000${tools.join(',')}`;
    const last = this.hiddenAudited.get(key);
    if (last !== undefined && Date.now() - last < HIDDEN_AUDIT_EVERY_MS) return;
    if (this.hiddenAudited.size >= MAX_REMEMBERED) this.hiddenAudited.clear();
    this.hiddenAudited.set(key, Date.now());
    void this.record(caller, 'mcp.tool_hidden', { upstream: upstream.name, tools, role: caller.user.role });
  }

  private async record(
    caller: GatewayCaller,
    action: 'mcp.tool_hidden' | 'mcp.tool_denied',
    detail: Record<string, unknown>,
  ): Promise<void> {
    try {
      await audit(
        this.s.store.db,
        this.s.clock.now(),
        caller.user.email,
        action,
        caller.connection.id,
        detail,
      );
    } catch (err) {
      this.s.log.error({ err: (err as Error).message, action }, 'could not write the audit log');
    }
  }
}

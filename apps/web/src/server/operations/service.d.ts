import type { Command } from '@berth/agent/protocol/messages';
import { type AgentGateway } from '../agents/gateway';
import type { OperationList, OperationListInput } from './schemas';
/**
 * Runs a command on a host as an operation and answers with its result. A disconnect before the answer keeps
 * the operation running (it is redelivered); the caller hears that it is pending.
 */
export declare function runOperation(input: {
    teamId: string;
    hostId: string;
    userId: string | null;
    command: Command;
    target?: string;
    timeoutMs: number;
}, via?: AgentGateway): Promise<unknown>;
/** Sends again what a host's agent has not answered yet, under the same ids; called when it comes online. */
export declare function redeliverOperations(hostId: string, via?: AgentGateway): Promise<void>;
/** Marks operations whose deadline passed without an answer as timed out. */
export declare function sweepOperations(now?: Date): Promise<number>;
/** Wires operations into this instance's gateway: redelivery on reconnect and the deadline sweep. */
export declare function startOperations(via?: AgentGateway): () => void;
export declare function listOperations(input: OperationListInput): Promise<OperationList>;

import { z } from 'zod';
export declare const operationStates: readonly ["running", "succeeded", "failed", "timed_out"];
export declare const operationListInput: z.ZodObject<{
    teamId: z.ZodUUID;
    hostId: z.ZodOptional<z.ZodUUID>;
    state: z.ZodOptional<z.ZodEnum<{
        failed: "failed";
        running: "running";
        succeeded: "succeeded";
        timed_out: "timed_out";
    }>>;
    cursor: z.ZodOptional<z.ZodUUID>;
    limit: z.ZodDefault<z.ZodNumber>;
}, z.core.$strip>;
export type OperationListInput = z.infer<typeof operationListInput>;
export declare const operationSchema: z.ZodObject<{
    id: z.ZodString;
    hostId: z.ZodString;
    hostName: z.ZodNullable<z.ZodString>;
    requestedBy: z.ZodNullable<z.ZodString>;
    kind: z.ZodString;
    target: z.ZodNullable<z.ZodString>;
    state: z.ZodEnum<{
        failed: "failed";
        running: "running";
        succeeded: "succeeded";
        timed_out: "timed_out";
    }>;
    error: z.ZodNullable<z.ZodString>;
    createdAt: z.ZodString;
    finishedAt: z.ZodNullable<z.ZodString>;
}, z.core.$strip>;
export declare const operationListSchema: z.ZodObject<{
    operations: z.ZodArray<z.ZodObject<{
        id: z.ZodString;
        hostId: z.ZodString;
        hostName: z.ZodNullable<z.ZodString>;
        requestedBy: z.ZodNullable<z.ZodString>;
        kind: z.ZodString;
        target: z.ZodNullable<z.ZodString>;
        state: z.ZodEnum<{
            failed: "failed";
            running: "running";
            succeeded: "succeeded";
            timed_out: "timed_out";
        }>;
        error: z.ZodNullable<z.ZodString>;
        createdAt: z.ZodString;
        finishedAt: z.ZodNullable<z.ZodString>;
    }, z.core.$strip>>;
    nextCursor: z.ZodNullable<z.ZodString>;
}, z.core.$strip>;
export type OperationList = z.infer<typeof operationListSchema>;

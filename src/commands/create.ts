// rootsnap create: one set of the configured volumes (or those named), all or nothing.
import { makeSet, type CreateOptions, type CreateResult } from "../lifecycle/make.ts";
import type { Context } from "../system/context.ts";

export type { CreateOptions, CreateResult };

export function create(context: Context, options: CreateOptions): Promise<CreateResult> {
  return makeSet(context, options);
}

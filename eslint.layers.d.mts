import type { ESLint, Linter } from "eslint";
export declare const LAYERS: readonly (readonly string[])[];
export declare const layersPlugin: ESLint.Plugin;
export declare const layersConfig: Linter.Config;
